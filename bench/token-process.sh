#!/usr/bin/env bash
# Times the whole `tokenwarden token` process with a fresh token already stored (the common case:
# a shell script or a credential helper asking for the token): process start, config, store
# open, decrypt, print. Uses hyperfine when installed, else a plain loop.
#
#   bash bench/token-process.sh            # builds the release binary first
#   BIN=path/to/tokenwarden RUNS=500 bash bench/token-process.sh
#
# Everything talks to 127.0.0.1 only (mockauth, started here, stopped at exit).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/tokenwarden}
RUNS=${RUNS:-300}
if [[ ${BIN} == target/release/tokenwarden ]]; then
  cargo build --release -q -p tokenwarden-cli
fi
T=$(mktemp -d)
export TOKENWARDEN_HOME=$T/home
mkdir -p "$TOKENWARDEN_HOME" && chmod 700 "$TOKENWARDEN_HOME"
MOCK=""
cleanup() { [[ -n $MOCK ]] && kill "$MOCK" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT

"$BIN" mock-server --addr 127.0.0.1:0 --auto-approve --access-ttl 1h >"$T/mock.out" 2>"$T/mock.err" &
MOCK=$!
for _ in $(seq 1 100); do [[ -s $T/mock.out ]] && break; sleep 0.1; done
ISSUER=$(head -1 "$T/mock.out" | sed -E 's/.*"issuer":"([^"]+)".*/\1/')
[[ $ISSUER == http://127.0.0.1:* ]] || { echo "mock-server did not start: $(cat "$T/mock.err")"; exit 1; }

"$BIN" profile add bench --issuer "$ISSUER" --client-id cli --redirect-uri http://127.0.0.1/callback \
  --scope openid --scope offline_access >/dev/null
"$BIN" --profile bench login --no-browser --timeout 30s >"$T/login.out" 2>"$T/login.err" &
LOGIN=$!
URL=""
for _ in $(seq 1 100); do
  URL=$(grep -m1 -oE '^https?://[^ ]+' "$T/login.err" || true)
  [[ -n $URL ]] && break
  sleep 0.1
done
[[ -n $URL ]] || { echo "login printed no URL: $(cat "$T/login.err")"; exit 1; }
curl -s -o /dev/null -L --max-time 10 "$URL"
wait "$LOGIN"
"$BIN" --profile bench token >/dev/null   # the token is fresh: every timed run takes the fast path

echo "timing: $BIN --profile bench token (cached, fresh token), $RUNS runs"
if command -v hyperfine >/dev/null; then
  hyperfine --warmup 20 --runs "$RUNS" -N "$BIN --profile bench token"
else
  start=$(date +%s%N)
  for _ in $(seq 1 "$RUNS"); do "$BIN" --profile bench token >/dev/null; done
  end=$(date +%s%N)
  echo "mean: $(( (end - start) / RUNS / 1000 )) µs per process (plain loop; install hyperfine for the spread)"
fi
