#!/usr/bin/env bash
# What starting a process costs at all, side by side with `tokenwarden`: the floor under
# `bash bench/process.sh`'s figures. Interleaved by hyperfine (-N: no shell), RUNS runs each:
#   - `cat` of a file holding the token;
#   - a C program that does nothing, linked without and with libgcc_s (which every Rust
#     program on linux-gnu loads, for unwinding: its constructor probes the CPU);
#   - a minimal Rust program printing the token file;
#   - `tokenwarden --version` (start, parse the arguments, exit);
#   - `tokenwarden token` with a cached token (bench/process.sh's "fresh database").
# Then `perf stat` (when installed) of `--version` and `token`: CPU time and page faults, and
# the dynamic loader's own count of its startup cycles and relocations (LD_DEBUG=statistics).
#
#   bash bench/start-floor.sh
#   RUNS=1000 bash bench/start-floor.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
RUNS=${RUNS:-300}
build_tools
command -v hyperfine >/dev/null || { echo "needs hyperfine (Debian: apt-get install hyperfine)" >&2; exit 1; }
command -v cc >/dev/null || { echo "needs a C compiler (cc)" >&2; exit 1; }

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
"$HELPER" setup --home "$T/home" --out "$T" >/dev/null
export TOKENWARDEN_HOME=$T/home

printf 'int main(void) { return 0; }\n' >"$T/nothing.c"
cc -O2 "$T/nothing.c" -o "$T/c-nothing"
cc -O2 "$T/nothing.c" -o "$T/c-libgcc_s" -Wl,--no-as-needed -lgcc_s
cat >"$T/cat.rs" <<'RS'
fn main() {
    let path = std::env::args_os().nth(1).expect("a path");
    let text = std::fs::read(path).expect("readable");
    std::io::Write::write_all(&mut std::io::stdout(), &text).expect("written");
}
RS
rustc -O -C strip=debuginfo --edition 2021 "$T/cat.rs" -o "$T/rust-cat"

machine
echo "timing: $RUNS runs each, hyperfine -N (medians; the relative column is against cat)"
hyperfine -N --warmup 20 --runs "$RUNS" --export-json "$T/h.json" \
  -n "cat" "cat $T/token.txt" \
  -n "C, nothing" "$T/c-nothing" \
  -n "C, nothing, with libgcc_s" "$T/c-libgcc_s" \
  -n "Rust, print the file" "$T/rust-cat $T/token.txt" \
  -n "tokenwarden --version" "$BIN --version" \
  -n "tokenwarden token" "$BIN --profile bench token" >/dev/null 2>"$T/hyperfine.err" ||
  { cat "$T/hyperfine.err" >&2; exit 1; }
jq -r '.results as $r | $r[0].median as $cat | $r[] |
  "\(.command | . + " " * (28 - length))  \((.median * 1e6 | round) / 1000) ms  (p10-p90 \(([.times[]] | sort | .[(length * 0.1 | floor)] * 1e6 | round) / 1000)-\(([.times[]] | sort | .[(length * 0.9 | floor)] * 1e6 | round) / 1000))  \((.median / $cat * 100 | round) / 100)x cat"' "$T/h.json"

if command -v perf >/dev/null; then
  echo "perf stat -r $RUNS (CPU time, page faults):"
  for args in "--version" "--profile bench token"; do
    # shellcheck disable=SC2086
    perf stat -x, -e task-clock,page-faults -r "$RUNS" "$BIN" $args 2>&1 >/dev/null |
      awk -F, -v a="$args" '/task-clock/ { cpu = $1 } /page-faults/ { pf = $1 }
        END { printf "  tokenwarden %-22s %.2f ms CPU, %d page faults\n", a, cpu, pf }'
  done
  for prog in "$T/c-nothing" "cat $T/token.txt"; do
    # shellcheck disable=SC2086
    perf stat -x, -e task-clock,page-faults -r "$RUNS" $prog 2>&1 >/dev/null |
      awk -F, -v a="$(basename "${prog%% *}")" '/task-clock/ { cpu = $1 } /page-faults/ { pf = $1 }
        END { printf "  %-34s %.2f ms CPU, %d page faults\n", a, cpu, pf }'
  done
fi
echo "the dynamic loader (LD_DEBUG=statistics) starting tokenwarden --version:"
LD_DEBUG=statistics "$BIN" --version 2>&1 >/dev/null |
  grep -E 'total startup time|time needed for relocation|number of relative relocations' |
  sed 's/^ *[0-9]*:[[:space:]]*/  /'
