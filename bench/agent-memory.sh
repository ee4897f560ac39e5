#!/usr/bin/env bash
# The agent's resident memory, idle, keeping PROFILES logged-in profiles (the issue asks at most
# 15 MiB with 10): VmRSS and the peak VmHWM after every profile was served once and the agent
# has idled IDLE seconds.
#
#   bash bench/agent-memory.sh              # 10 profiles, 5 s idle
#   PROFILES=20 bash bench/agent-memory.sh
source "$(dirname "$0")/agent-common.sh"
PROFILES=${PROFILES:-10}
start_mock --access-ttl 1h
for i in $(seq 1 "$PROFILES"); do login "p$i"; done
start_agent
for i in $(seq 1 "$PROFILES"); do "$BIN" --profile "p$i" token >/dev/null; done
sleep "${IDLE:-5}"
rss=$(awk '/VmRSS/ {print $2}' "/proc/$AGENT_PID/status")
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$AGENT_PID/status")
echo "{\"profiles\":$PROFILES,\"rss_kib\":$rss,\"peak_rss_kib\":$hwm,\"rss_mib\":$(awk -v k="$rss" 'BEGIN{printf "%.1f", k/1024}')}"
