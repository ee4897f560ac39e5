#!/usr/bin/env bash
# Runs every fuzz target for a bounded time, from the committed seeds (fuzz/seeds/TARGET) plus
# what earlier runs found (fuzz/corpus/TARGET, not committed), and prints each target's
# executions. A crash fails the run and leaves the input in fuzz/artifacts/TARGET/.
#
#   bash fuzz/run.sh              # 15 s per target (what CI runs)
#   bash fuzz/run.sh 600          # a longer run: 10 min per target
#   bash fuzz/run.sh 60 config    # one target
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked --version 0.13.2`); builds without a
# sanitizer (`-s none`), so it works on stable Rust.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-15}
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(cargo fuzz list)
fi
cargo fuzz build -s none >/dev/null
total=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  log=$(mktemp)
  if ! cargo fuzz run -s none "$t" "corpus/$t" "seeds/$t" -- \
      -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz: $t FAILED (input saved under fuzz/artifacts/$t/)"
    rm -f "$log"
    exit 1
  fi
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo 0)
  rm -f "$log"
  total=$((total + runs))
  printf 'fuzz: %-16s %10d executions in %s s, no crash\n' "$t" "$runs" "$secs"
done
echo "fuzz: ${#targets[@]} targets, $total executions, no crash"
