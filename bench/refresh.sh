#!/usr/bin/env bash
# One refresh on loopback, in a cold process, with its phases (see `src/refresh.rs`):
# mockauth runs inside the driver; ROUNDS times each, interleaved, a new process of the
# suite's helper refreshes through the library's public steps, each timed (runtime, config and
# store open, client build, discovery, the request, the store write), and the real
# `tokenwarden token` binary refreshes a token marked rejected, timed whole.
#
#   bash bench/refresh.sh                 # builds what it needs first
#   ROUNDS=50 bash bench/refresh.sh
#   BIN=path/to/tokenwarden bash bench/refresh.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
ROUNDS=${ROUNDS:-20}
build_tools
machine
"$HELPER" refresh --rounds "$ROUNDS" --cli "$BIN"
