#!/usr/bin/env bash
# A whole `tokenwarden token` process through the agent against the direct path (store open,
# decrypt), side by side in one run: RUNS interleaved pairs, medians and their ratio (the issue
# asks for at most 0.7), with `tokenwarden --version` as the floor (starting the process and
# nothing else). Uses hyperfine when installed, else a plain interleaved loop.
#
#   bash bench/agent-token-process.sh            # 200 pairs
#   RUNS=1000 bash bench/agent-token-process.sh
source "$(dirname "$0")/agent-common.sh"
RUNS=${RUNS:-200}
start_mock --access-ttl 1h
login bench
start_agent
"$BIN" --profile bench token >/dev/null
"$BIN" --no-agent --profile bench token >/dev/null
echo "timing: token via the agent vs --no-agent, $RUNS interleaved pairs (uptime: $(uptime | sed 's/.*load/load/'))"
if command -v perf >/dev/null; then
  # CPU time per process (task-clock): less sensitive than wall time to a loaded machine.
  for mode in agent direct floor; do
    args=(--profile bench token)
    [[ $mode == direct ]] && args=(--no-agent --profile bench token)
    [[ $mode == floor ]] && args=(--version)
    perf stat -x, -e task-clock -r "$RUNS" "$BIN" "${args[@]}" 2>&1 >/dev/null \
      | awk -F, -v m="$mode" '/task-clock/ {printf "{\"mode\":\"%s\",\"cpu_ms\":%.2f}\n", m, $1}'
  done
fi
if command -v hyperfine >/dev/null && command -v jq >/dev/null; then
  # `--version` is the floor: starting the process and nothing else.
  hyperfine -N --warmup 20 --runs "$RUNS" --export-json "$T/h.json" \
    -n agent "$BIN --profile bench token" \
    -n direct "$BIN --no-agent --profile bench token" \
    -n floor "$BIN --version"
  jq -c '{runs: .results[0].times | length,
          agent_median_us: (.results[0].median * 1e6 | floor),
          direct_median_us: (.results[1].median * 1e6 | floor),
          floor_median_us: (.results[2].median * 1e6 | floor),
          ratio: ((.results[0].median / .results[1].median) * 100 | round / 100)}' "$T/h.json"
  exit 0
fi
: >"$T/agent.us"; : >"$T/direct.us"
for _ in $(seq 1 "$RUNS"); do
  s=$(date +%s%N); "$BIN" --profile bench token >/dev/null; e=$(date +%s%N)
  echo $(( (e - s) / 1000 )) >>"$T/agent.us"
  s=$(date +%s%N); "$BIN" --no-agent --profile bench token >/dev/null; e=$(date +%s%N)
  echo $(( (e - s) / 1000 )) >>"$T/direct.us"
done
a=$(median "$T/agent.us"); d=$(median "$T/direct.us")
echo "{\"runs\":$RUNS,\"agent_median_us\":$a,\"direct_median_us\":$d,\"ratio\":$(awk -v a="$a" -v d="$d" 'BEGIN{printf "%.2f", a/d}')}"
