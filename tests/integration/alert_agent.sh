#!/usr/bin/env bash
# tests/integration/alert_agent.sh: the leader's abnormal-agent alert for a
# log disk nearly full, with real ZooKeeper and MariaDB. The agent reports its
# execution-log disk's free share in its record; with log_disk_min_free_pct
# 100 any real disk is "nearly full", so the leader opens an `agent` condition
# and the alert_webhook receiver gets one open notice naming the agent and the
# reason. Waits poll observable state with deadlines.
. "$SC_ROOT/tests/lib/it.sh"
it_setup aagent
rpid=
cleanup() {
  [ -n "$rpid" ] && kill "$rpid" 2>/dev/null || true
  it_cleanup
}
trap cleanup EXIT

python3 "$SC_ROOT/tests/lib/webhook_receiver.py" "$dir/hook.port" "$dir/hook.log" &
rpid=$!
sc_wait_until 30 test -s "$dir/hook.port" || fail "receiver did not start"
touch "$dir/hook.log"

it_agent d1 --session-timeout-ms 2000 --alert-interval-ms 300 --alert-group-ms 0 \
  --log-disk-min-free-pct 100 --alert-webhook "http://127.0.0.1:$(cat "$dir/hook.port")/ops"
full() { grep '"event":"open".*"kind":"agent"' "$dir/hook.log" | grep -q 'log disk nearly full.*"agent":"d1"'; }
sc_wait_until 60 full || fail "no log-disk notice: $(cat "$dir/hook.log"); rows: $(sql 'SELECT kind, agent, message FROM alert_event')"
n=$(sql "SELECT COUNT(*) FROM alert_event WHERE kind='agent' AND agent='d1' AND resolved_at IS NULL")
[ "$n" = 1 ] || fail "open agent rows for d1: $n"
[ "$(grep -c '"kind":"agent"' "$dir/hook.log")" = 1 ] || fail "want one agent notice: $(cat "$dir/hook.log")"

it_stop_agents
it_sanitizers
echo ok
