#!/usr/bin/env bash
# The fleet store, side by side:
#   1. refreshes per expiry window as the fleet grows: for each N in MACHINES, N "machines"
#      (separate TOKENWARDEN_HOMEs sharing only the database URL and the key) run PROCS
#      processes each, calling `tokenwarden token` in a loop for SECS seconds against mockauth
#      with TTL-second tokens, rotation on and reuse grace 0. A token that short is refreshed
#      when half its life is left (the proactive window is min(refresh_skew, lifetime / 2)), so
#      a window is TTL / 2: the ideal is 1.00 refresh per window (+1 for the run's edges), flat
#      as the fleet grows, and 0 reuse;
#   2. one `tokenwarden token` (cached) against the fleet store vs against the local SQLite
#      store, interleaved, medians.
# PostgreSQL is a throwaway cluster on 127.0.0.1 (initdb as the `postgres` user when run as
# root); mockauth runs on 127.0.0.1. Figures are printed, never asserted.
#
#   bash bench/fleet.sh
#   MACHINES="1 3 10" PROCS=4 SECS=20 TTL=4 RUNS=50 bash bench/fleet.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
MACHINES=${MACHINES:-"1 3 10"}
PROCS=${PROCS:-4}
SECS=${SECS:-20}
TTL=${TTL:-4}
RUNS=${RUNS:-50}
if [[ $BIN == "$TARGET/release/tokenwarden" ]]; then
  cargo build --release -q --locked -p tokenwarden-cli
fi
BIN=$(realpath "$BIN")
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -x $PGBIN/initdb ]] || { echo "PostgreSQL is not installed (Debian: postgresql)"; exit 1; }

T=$(mktemp -d)
# The cluster's own directory: the postgres user must reach it (T is private to us).
PGT=$(mktemp -d)
PIDS=()
as_pg() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
stop() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  as_pg "$PGBIN/pg_ctl" -D "$PGT/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$T" "$PGT"
}
trap stop EXIT
if [[ $(id -u) == 0 ]]; then chown postgres "$PGT"; fi
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
as_pg "$PGBIN/initdb" -D "$PGT/data" -A trust -U postgres >"$T/initdb.log" 2>&1 ||
  { cat "$T/initdb.log"; exit 1; }
as_pg "$PGBIN/pg_ctl" -D "$PGT/data" -l "$PGT/pg.log" -w \
  -o "-p $PORT -k $PGT -c listen_addresses=127.0.0.1" start >/dev/null
export TOKENWARDEN_KEY
TOKENWARDEN_KEY=$(openssl rand -hex 32)

"$BIN" mock-server --addr 127.0.0.1:0 --auto-approve --access-ttl "${TTL}s" \
  --rotate-refresh-tokens true --reuse-grace 0s >"$T/mock.out" 2>"$T/mock.err" &
PIDS+=($!)
for _ in $(seq 1 100); do [[ -s $T/mock.out ]] && break; sleep 0.1; done
ISSUER=$(head -1 "$T/mock.out" | jq -r .issuer)
ADMIN=$(head -1 "$T/mock.out" | jq -r .admin)
stats() { curl -sf "$ADMIN/stats"; }

# home DIR [URL]: a machine's home with profile f (on the fleet store at URL, else local).
home() {
  mkdir -p "$1" && chmod 700 "$1"
  TOKENWARDEN_HOME=$1 "$BIN" profile add f --issuer "$ISSUER" --client-id cli \
    --redirect-uri http://127.0.0.1/callback --scope openid --scope offline_access >/dev/null
  if [[ -n ${2:-} ]]; then printf '\n[store]\nurl = "%s"\n' "$2" >>"$1/config.toml"; fi
}
# login DIR: the authorization code login, approved by fetching its URL.
login() {
  TOKENWARDEN_HOME=$1 "$BIN" --profile f login --no-browser --timeout 30s >/dev/null 2>"$T/login.err" &
  local lp=$! url=""
  for _ in $(seq 1 100); do
    url=$(grep -m1 -oE '^https?://[^ ]+' "$T/login.err" || true)
    [[ -n $url ]] && break
    sleep 0.1
  done
  curl -s -o /dev/null -L --max-time 10 "$url"
  wait "$lp"
}

machine
echo "fleet: PROCS=$PROCS processes a machine, SECS=$SECS s, TTL=$TTL s tokens (rotation on, reuse grace 0)"
printf '%-9s %8s %8s %10s %12s %7s\n' machines calls failed refreshes "per window" reuse
for n in $MACHINES; do
  db="fleet_$n"
  as_pg "$PGBIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -qc "create database $db" >/dev/null
  url="postgres://postgres@127.0.0.1:$PORT/$db"
  for m in $(seq 1 "$n"); do home "$T/m$n-$m" "$url"; done
  login "$T/m$n-1"
  before=$(stats | jq '.token_requests.refresh_token')
  reuse0=$(stats | jq '.refresh_reuse_detected')
  end=$((SECONDS + SECS)); WP=()
  for m in $(seq 1 "$n"); do for w in $(seq 1 "$PROCS"); do
    ( calls=0 errs=0
      while ((SECONDS < end)); do
        TOKENWARDEN_HOME=$T/m$n-$m "$BIN" --profile f token --min-ttl 0s >/dev/null 2>&1 || errs=$((errs + 1))
        calls=$((calls + 1))
      done
      echo "$calls $errs" >"$T/r$n-$m-$w" ) &
    WP+=($!)
  done; done
  wait "${WP[@]}"
  calls=0 errs=0
  for f in "$T"/r"$n"-*; do read -r c e <"$f"; calls=$((calls + c)); errs=$((errs + e)); done
  refreshes=$(($(stats | jq '.token_requests.refresh_token') - before))
  reuse=$(($(stats | jq '.refresh_reuse_detected') - reuse0))
  per=$(awk -v r="$refreshes" -v s="$SECS" -v t="$TTL" 'BEGIN { printf "%.2f", r / (s / (t / 2)) }')
  printf '%-9s %8d %8d %10d %12s %7d\n' "$n" "$calls" "$errs" "$refreshes" "$per" "$reuse"
done

# A cached token: the fleet store against the local one, interleaved, with tokens that
# outlive the timing (a second mockauth, hour-long tokens), so no run refreshes.
"$BIN" mock-server --addr 127.0.0.1:0 --auto-approve --access-ttl 1h >"$T/mock2.out" 2>"$T/mock2.err" &
PIDS+=($!)
for _ in $(seq 1 100); do [[ -s $T/mock2.out ]] && break; sleep 0.1; done
ISSUER=$(head -1 "$T/mock2.out" | jq -r .issuer)
as_pg "$PGBIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -qc "create database timing" >/dev/null
home "$T/local"
login "$T/local"
home "$T/fleet1" "postgres://postgres@127.0.0.1:$PORT/timing"
login "$T/fleet1"
: >"$T/local.ms"
: >"$T/fleet.ms"
for _ in $(seq 1 "$RUNS"); do
  for which in local fleet1; do
    s=$(date +%s%N)
    TOKENWARDEN_HOME=$T/$which "$BIN" --profile f token --min-ttl 0s >/dev/null 2>&1 || true
    e=$(date +%s%N)
    echo $(((e - s) / 1000)) >>"$T/${which%1}.ms"
  done
done
median() { sort -n "$1" | awk '{ a[NR] = $1 } END { printf "%.2f", a[int((NR + 1) / 2)] / 1000 }'; }
echo "cached token, median of $RUNS interleaved runs: local SQLite $(median "$T/local.ms") ms, fleet PostgreSQL $(median "$T/fleet.ms") ms"
