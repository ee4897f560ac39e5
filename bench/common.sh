# Sourced by the bench scripts (from the repository root): the builds they need, and the
# context every report starts with (figures mean little without the machine and its load).

TARGET=${CARGO_TARGET_DIR:-target}
BIN=${BIN:-$TARGET/release/tokenwarden}

# Builds the release binary (unless BIN names another one) and the suite's helper binary
# (its own workspace, built into the same target directory); sets HELPER, makes BIN absolute.
build_tools() {
  if [[ $BIN == "$TARGET/release/tokenwarden" ]]; then
    cargo build --release -q --locked -p tokenwarden-cli
  fi
  (cd bench && cargo build --release -q --locked --bin tokenwarden-bench)
  HELPER=$(realpath "$TARGET/release/tokenwarden-bench")
  BIN=$(realpath "$BIN")
}

# The date, the machine and its load right now.
machine() {
  local cpu
  cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "machine: ${cpu:-unknown CPU}, $(nproc) cores, $(uname -sr)"
  echo "load:$(uptime | sed 's/.*load average/ load average/')  (take figures on an idle machine)"
}
