#!/usr/bin/env bash
# Times reading a config.toml with many profiles (1k, 8k, 32k), to show that parsing and
# validating grows linearly with the file: each run is a whole `tokenwarden profile show`
# process on a file of N profiles. Figures are reported, never asserted.
#
#   bash bench/config-parse.sh              # builds the release binary first
#   BIN=path/to/tokenwarden SIZES="2000 32000" bash bench/config-parse.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/tokenwarden}
SIZES=${SIZES:-1000 8000 32000}
if [[ ${BIN} == target/release/tokenwarden ]]; then
  cargo build --release -q -p tokenwarden-cli
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export TOKENWARDEN_HOME=$T/home
mkdir -p "$TOKENWARDEN_HOME" && chmod 700 "$TOKENWARDEN_HOME"
for n in $SIZES; do
  {
    for i in $(seq 1 "$n"); do
      printf '[profiles.p%d]\nissuer = "https://login%d.example.com"\nclient_id = "client-%d"\n' "$i" "$i" "$i"
      printf 'scopes = ["openid", "email"]\nredirect_uri = "http://127.0.0.1/callback"\n\n'
    done
  } >"$TOKENWARDEN_HOME/config.toml"
  chmod 600 "$TOKENWARDEN_HOME/config.toml"
  start=$(date +%s%N)
  "$BIN" --profile "p$n" profile show >/dev/null
  end=$(date +%s%N)
  printf '%6d profiles (%s bytes): %d ms\n' "$n" "$(stat -c %s "$TOKENWARDEN_HOME/config.toml")" $(((end - start) / 1000000))
done
