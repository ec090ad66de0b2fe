#!/usr/bin/env bash
# tests/integration/alert_no_agent.sh: the leader agent's no_agent alert, with
# real ZooKeeper and MariaDB. A job whose labels match no live agent gets one
# alert_event row (kind no_agent, no item) opened by the leader, and its
# webhook receiver gets exactly one "open" notice of kind no_agent; a disabled
# job with the same labels and a job an agent can run get nothing. Once an
# agent carrying the label joins, the row is resolved and exactly one
# "resolve" notice arrives. Waits poll observable state with deadlines.
. "$SC_ROOT/tests/lib/it.sh"
it_setup noagent
rpid=
cleanup() {
  [ -n "$rpid" ] && kill "$rpid" 2>/dev/null || true
  it_cleanup
}
trap cleanup EXIT

# The receiver: one line per notice body.
python3 "$SC_ROOT/tests/lib/webhook_receiver.py" "$dir/hook.port" "$dir/hook.log" &
rpid=$!
sc_wait_until 30 test -s "$dir/hook.port" || fail "receiver did not start"
hook="http://127.0.0.1:$(cat "$dir/hook.port")/hook"

flags=(--session-timeout-ms 2000 --alert-interval-ms 300 --alert-reminder-s 3600)
it_agent na1 "${flags[@]}"
# lonely: no agent carries gpu; off: the same, but disabled; plain: na1 runs it.
cat > "$dir/lonely.json" <<JOB
{"name":"lonely","cron":"* * * * * ?","command":"true","labels":["gpu"],
 "alert":{"webhook":"$hook","on":["missed"]}}
JOB
cat > "$dir/off.json" <<JOB
{"name":"off","cron":"* * * * * ?","command":"true","labels":["gpu"],"disabled":true,
 "alert":{"webhook":"$hook"}}
JOB
cat > "$dir/plain.json" <<JOB
{"name":"plain","cron":"* * * * * ?","command":"true","alert":{"webhook":"$hook"}}
JOB
for j in lonely off plain; do ctl job put "$dir/$j.json" >/dev/null || fail "job put $j"; done

agents=(na1)
leader_port() { # the leader agent's HTTP port
  local a
  for a in "${agents[@]}"; do
    curl -s "http://127.0.0.1:$(cat "$dir/$a/http.port")/status" | grep -q '"leader":true' \
      && { cat "$dir/$a/http.port"; return 0; }
  done
  return 1
}
metric() { curl -s "http://127.0.0.1:$(leader_port)/metrics" | awk -v k="$1" '$1 == k {print $2}'; }
evaluations() { metric 'shardcron_agent_alert_evaluations_total{result="ok"}'; }
notices() { # notices EVENT: how many no_agent notices of EVENT for lonely the receiver got
  if [ -f "$dir/hook.log" ]; then
    grep -c "\"event\":\"$1\".*\"kind\":\"no_agent\".*\"job\":\"lonely\"" "$dir/hook.log" || true
  else echo 0; fi
}
settle() { # five more evaluations by the leader
  local e
  e=$(evaluations)
  more() { [ "$(evaluations)" -ge $((e + 5)) ]; }
  sc_wait_until 30 more || fail "evaluations stopped"
}

# ---- open: one row, one notice, sent by the leader
opened() { [ "$(notices open)" -ge 1 ]; }
sc_wait_until 40 opened || fail "no open notice: $(cat "$dir/hook.log" 2>/dev/null); rows: $(sql 'SELECT * FROM alert_event')"
settle
[ "$(notices open)" = 1 ] || fail "want one open notice: $(cat "$dir/hook.log")"
grep -q '"kind":"no_agent".*"sender":"na1"' "$dir/hook.log" || fail "not from the leader: $(cat "$dir/hook.log")"
n=$(sql "SELECT COUNT(*) FROM alert_event WHERE kind='no_agent' AND job='lonely' AND item IS NULL AND resolved_at IS NULL")
[ "$n" = 1 ] || fail "open no_agent rows for lonely: $n"
n=$(sql "SELECT COUNT(*) FROM alert_event WHERE job IN ('off','plain') AND kind <> 'no_failover'")
[ "$n" = 0 ] || fail "alerts for off or plain: $(sql 'SELECT * FROM alert_event')"
# plain has one eligible agent: it cannot fail over (a row; no notice, its
# alert.on does not ask for no_failover)
nf() { [ "$(sql "SELECT COUNT(*) FROM alert_event WHERE job='plain' AND kind='no_failover' AND resolved_at IS NULL")" = 1 ]; }
sc_wait_until 30 nf || fail "no no_failover row for plain: $(sql 'SELECT * FROM alert_event')"
[ "$(grep -c . "$dir/hook.log")" = 1 ] || fail "extra notices: $(cat "$dir/hook.log")"

# ---- an agent with the label joins: resolved, one notice
it_agent na2 "${flags[@]}" --labels gpu
agents+=(na2)
resolved() { [ "$(notices resolve)" -ge 1 ]; }
sc_wait_until 40 resolved || fail "no resolve notice: $(cat "$dir/hook.log"); rows: $(sql 'SELECT * FROM alert_event')"
settle
[ "$(notices open)" = 1 ] && [ "$(notices resolve)" = 1 ] \
  || fail "want exactly one open and one resolve notice: $(cat "$dir/hook.log")"
n=$(sql "SELECT COUNT(*) FROM alert_event WHERE kind='no_agent' AND job='lonely' AND resolved_at IS NOT NULL")
[ "$n" = 1 ] || fail "resolved no_agent rows for lonely: $n"
n=$(sql "SELECT COUNT(*) FROM alert_event WHERE kind <> 'no_failover'")
[ "$n" = 1 ] || fail "alert_event rows: $(sql 'SELECT * FROM alert_event')"
# lonely runs on na2 now (history rows under its id), and nothing else was notified.
ran() { [ "$(sql "SELECT COUNT(*) FROM job_execution WHERE job='lonely' AND agent='na2' AND status='succeeded'")" -ge 1 ]; }
sc_wait_until 30 ran || fail "lonely never ran on na2"
[ "$(grep -c . "$dir/hook.log")" = 2 ] || fail "extra notices: $(cat "$dir/hook.log")"

it_stop_agents
it_sanitizers
echo ok
