#!/usr/bin/env bash
# Whole process, side by side: how long a program waits for a cached access token when it
# runs another program to get it (a shell script, a git credential helper):
#   - `tokenwarden token` with a fresh database (just logged in),
#   - `tokenwarden token` with the event log at its cap (10,000 records: a long-used home),
#   - `tokenwarden token` through the agent (`tokenwarden agent` running for a third copy of
#     the home, started here and stopped at exit; AGENT=0 leaves it out),
#   - `cat` of a file holding the token (the least any helper can cost),
#   - a Node and a Python helper reading a JSON credentials file (bench/helpers/).
# The runs are interleaved: ROUNDS rounds, each running every command RUNS times, in an order
# that rotates from round to round. The table gives each command's median over all runs and,
# paired by round, its time divided by the first command's. Then the peak RSS of each
# (GNU time, RSS_RUNS runs). Uses hyperfine (with jq) when installed, else (or with
# TIMER=loop) a plain loop.
#
#   bash bench/process.sh                       # builds what it needs first
#   ROUNDS=20 RUNS=10 bash bench/process.sh
#   BIN=path/to/tokenwarden bash bench/process.sh
#
# Nothing goes to the network: the tokens come from mockauth on 127.0.0.1 (run by `setup` and
# stopped before the timing), and a cached token needs no request.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
ROUNDS=${ROUNDS:-10}
RUNS=${RUNS:-10}
RSS_RUNS=${RSS_RUNS:-5}
build_tools

T=$(mktemp -d)
SCRATCH=""
AGENT_PID=""
cleanup() {
  if [[ -n $AGENT_PID ]]; then kill "$AGENT_PID" 2>/dev/null || true; wait "$AGENT_PID" 2>/dev/null || true; fi
  rm -rf "$T" ${SCRATCH:+"$SCRATCH"}
}
trap cleanup EXIT
"$HELPER" setup --home "$T/fresh" --out "$T"
# The second home: the first with its event log filled to the cap. Filling takes 10,000
# durable transactions: done on a RAM disk when there is one (a second instead of a minute),
# then moved beside the first, so both are timed on the same disk.
if [[ -d /dev/shm && -w /dev/shm ]]; then
  SCRATCH=$(mktemp -d -p /dev/shm)
  cp -a "$T/fresh" "$SCRATCH/full"
  TOKENWARDEN_HOME=$SCRATCH/full "$HELPER" fill-events
  mv "$SCRATCH/full" "$T/full"
else
  cp -a "$T/fresh" "$T/full"
  TOKENWARDEN_HOME=$T/full "$HELPER" fill-events
fi

# The commands: a name, the tokenwarden home it runs with, the command line (quoted).
names=() homes=() cmds=()
add() {
  local q
  names+=("$1") homes+=("$2")
  shift 2
  printf -v q '%q ' "$@"
  cmds+=("${q% }")
}
add "tokenwarden token (fresh db)" "$T/fresh" "$BIN" --profile bench token
add "tokenwarden token (log at cap)" "$T/full" "$BIN" --profile bench token
if [[ ${AGENT:-1} != 0 ]]; then
  # A third copy of the home, served by an agent (its socket under the home's run/).
  cp -a "$T/fresh" "$T/agent"
  TOKENWARDEN_HOME=$T/agent "$BIN" agent >"$T/agent.out" 2>"$T/agent.err" &
  AGENT_PID=$!
  for _ in $(seq 1 100); do [[ -s $T/agent.out ]] && break; sleep 0.1; done
  [[ -s $T/agent.out ]] || { echo "the agent did not start: $(cat "$T/agent.err")" >&2; exit 1; }
  add "tokenwarden token (via agent)" "$T/agent" "$BIN" --profile bench token
fi
add "cat token file" "$T/fresh" cat "$T/token.txt"
if NODE=$(command -v node); then
  add "node helper" "$T/fresh" "$NODE" bench/helpers/token.js "$T/credentials.json"
else
  echo "node not found: its row is left out"
fi
# The interpreter itself: a version manager's `python3` may be a shim script.
if PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null); then
  add "python helper" "$T/fresh" "$PY" bench/helpers/token.py "$T/credentials.json"
else
  echo "python3 not found: its row is left out"
fi
n=${#cmds[@]}

# Every command must print the token (and only it) before it is timed.
expect=$(<"$T/token.txt")
for ((i = 0; i < n; i++)); do
  got=$(export TOKENWARDEN_HOME=${homes[i]}; eval "${cmds[i]}")
  [[ $got == "$expect" ]] || { echo "${names[i]} did not print the token" >&2; exit 1; }
done

if [[ ${TIMER:-} != loop ]] && command -v hyperfine >/dev/null && command -v jq >/dev/null; then
  tool="hyperfine $(hyperfine --version | awk '{ print $2 }')"
else
  tool="a plain loop (install hyperfine and jq for exec timing without the shell)"
fi
machine
echo "timing: $ROUNDS rounds x $RUNS runs of each command, interleaved, with $tool"

: >"$T/times"
for ((r = 0; r < ROUNDS; r++)); do
  if [[ -t 2 ]]; then printf '\rround %d/%d' $((r + 1)) "$ROUNDS" >&2; fi
  for ((k = 0; k < n; k++)); do
    i=$(((r + k) % n))
    export TOKENWARDEN_HOME=${homes[i]}
    if [[ $tool == hyperfine* ]]; then
      # Its warnings (outliers on a busy machine) would garble the progress line: shown only
      # when it fails.
      hyperfine -N --warmup 2 --runs "$RUNS" --export-json "$T/run.json" "${cmds[i]}" \
        >/dev/null 2>"$T/hyperfine.err" || { cat "$T/hyperfine.err" >&2; exit 1; }
      jq -r --arg r "$r" --arg name "${names[i]}" \
        '.results[0].times[] | "\($r)\t\($name)\t\(. * 1000000)"' "$T/run.json" >>"$T/times"
    else
      eval "${cmds[i]}" >/dev/null
      for ((j = 0; j < RUNS; j++)); do
        t0=$EPOCHREALTIME
        eval "${cmds[i]}" >/dev/null
        t1=$EPOCHREALTIME
        printf '%s\t%s\t%s\n' "$r" "${names[i]}" $((${t1//[.,]/} - ${t0//[.,]/})) >>"$T/times"
      done
    fi
  done
done
if [[ -t 2 ]]; then printf '\r%20s\r' '' >&2; fi

rss=()
if /usr/bin/time -f %M -o "$T/rss1" true 2>/dev/null; then
  : >"$T/rss"
  for ((i = 0; i < n; i++)); do
    export TOKENWARDEN_HOME=${homes[i]}
    for ((j = 0; j < RSS_RUNS; j++)); do
      eval "/usr/bin/time -f %M -o $(printf '%q' "$T/rss1") ${cmds[i]}" >/dev/null
      printf '%s\t%s\n' "${names[i]}" "$(tail -1 "$T/rss1")" >>"$T/rss"
    done
  done
  rss=(--rss "$T/rss")
else
  echo "GNU time (/usr/bin/time) not found: no peak RSS"
fi
"$HELPER" summarize "$T/times" "${rss[@]}"
if [[ -n $AGENT_PID ]]; then
  awk '/VmRSS/ {r=$2} /VmHWM/ {h=$2} END {printf "agent (1 profile, after the runs): RSS %.1f MiB, peak %.1f MiB\n", r/1024, h/1024}' \
    "/proc/$AGENT_PID/status"
fi
