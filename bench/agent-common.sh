# Sourced by bench/agent-*.sh and bench/proxy-*.sh: a temporary TOKENWARDEN_HOME, mockauth on
# 127.0.0.1, logins, an agent; everything started here is stopped at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/tokenwarden}
if [[ ${BIN} == target/release/tokenwarden ]]; then
  cargo build --release -q -p tokenwarden-cli
fi
T=$(mktemp -d)
export TOKENWARDEN_HOME=$T/home
mkdir -p "$TOKENWARDEN_HOME" && chmod 700 "$TOKENWARDEN_HOME"
unset XDG_RUNTIME_DIR
STARTED=()
cleanup() {
  for p in "${STARTED[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT

# start_mock [ARGS...]: sets ISSUER
start_mock() {
  "$BIN" mock-server --addr 127.0.0.1:0 --auto-approve "$@" >"$T/mock.out" 2>"$T/mock.err" &
  STARTED+=($!)
  for _ in $(seq 1 100); do [[ -s $T/mock.out ]] && break; sleep 0.1; done
  ISSUER=$(head -1 "$T/mock.out" | sed -E 's/.*"issuer":"([^"]+)".*/\1/')
  [[ $ISSUER == http://127.0.0.1:* ]] || { echo "mock-server did not start: $(cat "$T/mock.err")"; exit 1; }
}

# login NAME: adds profile NAME (resource: the mock's API) and logs it in
login() {
  local name=$1
  "$BIN" profile add "$name" --issuer "$ISSUER" --client-id cli --redirect-uri http://127.0.0.1/callback \
    --scope openid --scope offline_access --resource "$ISSUER/v1/messages" >/dev/null
  "$BIN" --profile "$name" login --no-browser --timeout 30s >"$T/login.out" 2>"$T/login.err" &
  local lp=$! url=""
  for _ in $(seq 1 100); do
    url=$(grep -m1 -oE '^https?://[^ ]+' "$T/login.err" 2>/dev/null || true)
    [[ -n $url ]] && break
    sleep 0.1
  done
  [[ -n $url ]] || { echo "login printed no URL: $(cat "$T/login.err")"; exit 1; }
  curl -s -o /dev/null -L --max-time 10 "$url"
  wait "$lp" || { echo "login $name failed: $(tail -3 "$T/login.err")"; exit 1; }
}

# start_agent [ARGS...]: sets AGENT_PID and SOCKET
start_agent() {
  "$BIN" agent "$@" >"$T/agent.out" 2>"$T/agent.err" &
  AGENT_PID=$!
  STARTED+=("$AGENT_PID")
  for _ in $(seq 1 100); do [[ -s $T/agent.out ]] && break; sleep 0.1; done
  SOCKET=$(head -1 "$T/agent.out" | sed -E 's/.*"socket":"([^"]+)".*/\1/')
  [[ -S $SOCKET ]] || { echo "the agent did not start: $(cat "$T/agent.err")"; exit 1; }
}

# median FILE: the median of the numbers in FILE, one per line
median() { sort -n "$1" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
