#!/usr/bin/env bash
# tests/integration/alert_group.sh: what becomes a notice, with real ZooKeeper,
# MariaDB, two agents and a loopback webhook receiver.
# - a burst: 200 items of one job fail at one trigger; the receiver gets ONE
#   "open" notice for the job with count 200 (alert_event holds 200 rows);
# - recovery: the job succeeds at the next trigger; ONE "resolve" notice,
#   recovered, count 200, and nothing else for it;
# - a workflow run whose command task fails: a run_failed notice (and a
#   task_failed one for the task) at the agents' alert_webhook;
# - no_failover: a job whose two eligible agents become one (the other agent is
#   stopped) gets a no_failover notice (its alert.on asks for it);
# - an abnormal agent: one that runs at its capacity gets an "agent" notice at
#   the alert_webhook, and a recovery once its run ends.
# Waits poll observable state with deadlines.
. "$SC_ROOT/tests/lib/it.sh"
it_setup agroup
rpid=
cleanup() {
  [ -n "$rpid" ] && kill "$rpid" 2>/dev/null || true
  it_cleanup
}
trap cleanup EXIT

python3 "$SC_ROOT/tests/lib/webhook_receiver.py" "$dir/hook.port" "$dir/hook.log" &
rpid=$!
sc_wait_until 30 test -s "$dir/hook.port" || fail "receiver did not start"
hook="http://127.0.0.1:$(cat "$dir/hook.port")/hook"
touch "$dir/hook.log"

# The grouping window (15 s) covers the 200 items' start on loaded machines.
flags=(--session-timeout-ms 2000 --alert-interval-ms 300 --alert-reminder-s 3600
       --alert-group-ms 15000 --alert-webhook "$hook/ops" --capacity 250 --labels p)
it_agent g1 "${flags[@]}"
it_agent g2 "${flags[@]}"
agents=(g1 g2)

# burst: 200 items, run only when triggered; fails until $dir/ok exists.
cat > "$dir/burst.json" <<JOB
{"name":"burst","shards":200,"command":"test -f $dir/ok",
 "alert":{"webhook":"$hook/burst","on":["failure"]}}
JOB
# pair: runs on agents labelled p (both); asks for no_failover notices.
cat > "$dir/pair.json" <<JOB
{"name":"pair","cron":"0 0 1 * * ?","command":"true","labels":["p"],
 "alert":{"webhook":"$hook/pair","on":["no_failover"]}}
JOB
for j in burst pair; do ctl job put "$dir/$j.json" >/dev/null || fail "job put $j"; done

count() { grep -c "$1" "$dir/hook.log" || true; }
leader_port() {
  local a
  for a in "${agents[@]}"; do
    curl -s "http://127.0.0.1:$(cat "$dir/$a/http.port")/status" | grep -q '"leader":true' \
      && { cat "$dir/$a/http.port"; return 0; }
  done
  return 1
}
evaluations() {
  curl -s "http://127.0.0.1:$(leader_port)/metrics" |
    awk '$1 == "shardcron_agent_alert_evaluations_total{result=\"ok\"}" {print $2}'
}
settle() { # evaluations go on past the grouping window: nothing more is coming
  local e
  e=$(evaluations)
  more() { [ "$(evaluations)" -ge $((e + 30)) ]; }
  sc_wait_until 60 more || fail "evaluations stopped"
}
led() { leader_port >/dev/null; }
sc_wait_until 30 led || fail "no leader"
sc_wait_until 30 test -s "$dir/g1/http.port" || fail "g1 has no HTTP port"
sc_wait_until 30 test -s "$dir/g2/http.port" || fail "g2 has no HTTP port"
both() { ctl agents --format json | jq -e 'length == 2' >/dev/null; }
sc_wait_until 30 both || fail "two agents never registered"

# ---- burst: one notice, count 200
triggered() { ctl job trigger burst >/dev/null 2>&1; }
sc_wait_until 30 triggered || fail "trigger burst"
failed200() { [ "$(sql "SELECT COUNT(*) FROM job_execution WHERE job='burst' AND status='failed'")" -ge 200 ]; }
sc_wait_until 90 failed200 || fail "200 failures never recorded: $(sql "SELECT status, COUNT(*) FROM job_execution WHERE job='burst' GROUP BY status")"
opened() { [ "$(count '"event":"open".*"job":"burst"')" -ge 1 ]; }
sc_wait_until 60 opened || fail "no open notice for burst: $(cat "$dir/hook.log")"
settle
[ "$(count '"event":"open".*"job":"burst"')" = 1 ] || fail "want one open notice: $(cat "$dir/hook.log")"
grep '"event":"open".*"job":"burst"' "$dir/hook.log" | grep -q '"count":200' \
  || fail "the notice does not count 200: $(grep burst "$dir/hook.log")"
n=$(sql "SELECT COUNT(*) FROM alert_event WHERE job='burst' AND kind='failed' AND resolved_at IS NULL")
[ "$n" = 200 ] || fail "open alert_event rows for burst: $n"

# ---- recovery: one resolve notice
touch "$dir/ok"
sc_wait_until 30 triggered || fail "trigger burst again"
recovered() { [ "$(count '"event":"resolve".*"job":"burst"')" -ge 1 ]; }
sc_wait_until 90 recovered || fail "no recovery notice: $(cat "$dir/hook.log")"
settle
grep '"event":"resolve".*"job":"burst"' "$dir/hook.log" | grep -q '"count":200.*"recovered":true' \
  || fail "recovery notice: $(grep burst "$dir/hook.log")"
[ "$(count '"job":"burst"')" = 2 ] || fail "want two notices for burst: $(grep burst "$dir/hook.log")"

# ---- a failed workflow run: run_failed at the agents' alert_webhook
cat > "$dir/wf.json" <<'EOF2'
{"name":"nightly","cron":"0 0 1 * * ?","tasks":{"boom":{"command":"exit 3"}}}
EOF2
ctl workflow put "$dir/wf.json" >/dev/null || fail "workflow put"
wtrig() { ctl workflow trigger nightly >/dev/null 2>&1; }
sc_wait_until 30 wtrig || fail "workflow trigger"
runfailed() { [ "$(count '"event":"open".*"kind":"run_failed".*"job":"nightly"')" -ge 1 ]; }
sc_wait_until 90 runfailed || fail "no run_failed notice: $(cat "$dir/hook.log"); runs: $(sql 'SELECT run_id, state FROM workflow_run')"
grep -q '"kind":"task_failed".*"job":"nightly".*"task":"boom"' "$dir/hook.log" \
  || fail "no task_failed notice for boom: $(cat "$dir/hook.log")"

# ---- a workflow with its own alert channels: its notices go there, not to
# the agents' alert_webhook
python3 "$SC_ROOT/tests/lib/webhook_receiver.py" "$dir/own.port" "$dir/own.log" &
opid=$!
sc_wait_until 30 test -s "$dir/own.port" || fail "second receiver did not start"
touch "$dir/own.log"
cat > "$dir/wf2.json" <<EOF2
{"name":"nightly2","cron":"0 0 1 * * ?","tasks":{"boom":{"command":"exit 3"}},
 "alert":{"channels":[{"type":"webhook","url":"http://127.0.0.1:$(cat "$dir/own.port")/own"}]}}
EOF2
ctl workflow put "$dir/wf2.json" >/dev/null || fail "workflow put nightly2"
ctl workflow get nightly2 | grep -q '"channels"' || fail "nightly2 stored without its channels: $(ctl workflow get nightly2)"
wtrig2() { ctl workflow trigger nightly2 >/dev/null 2>&1; }
sc_wait_until 30 wtrig2 || fail "workflow trigger nightly2"
own() { grep -q '"event":"open".*"kind":"run_failed".*"job":"nightly2"' "$dir/own.log" &&
        grep -q '"kind":"task_failed".*"job":"nightly2"' "$dir/own.log"; }
sc_wait_until 90 own || fail "nightly2's notices not at its own channel: own: $(cat "$dir/own.log"); ops: $(grep nightly2 "$dir/hook.log")"
[ "$(count '"job":"nightly2"')" = 0 ] || fail "nightly2's notices also went to alert_webhook: $(grep nightly2 "$dir/hook.log")"
kill "$opid" 2>/dev/null; wait "$opid" 2>/dev/null || true

# ---- no_failover: pair loses its second eligible agent
[ "$(count '"job":"pair"')" = 0 ] || fail "pair notified while two agents run it: $(cat "$dir/hook.log")"
kill -TERM "${it_pids[1]}"
wait "${it_pids[1]}" || fail "g2 exited with $?"
it_pids=("${it_pids[0]}")
agents=(g1)
nofail() { [ "$(count '"event":"open".*"kind":"no_failover".*"job":"pair"')" -ge 1 ]; }
sc_wait_until 90 nofail || fail "no no_failover notice for pair: $(cat "$dir/hook.log"); rows: $(sql "SELECT kind, job, message FROM alert_event WHERE resolved_at IS NULL")"
grep '"kind":"no_failover".*"job":"pair"' "$dir/hook.log" | grep -q 'fewer than two live eligible agents' \
  || fail "no_failover reason: $(grep pair "$dir/hook.log")"

# ---- an agent at its capacity: an agent notice, then its recovery (the run
# lasts past the leader's grouping window: shorter, it would be a blip)
it_agent g3 --session-timeout-ms 2000 --alert-interval-ms 300 --alert-group-ms 15000 \
  --alert-webhook "$hook/ops" --capacity 1 --labels solo
agents+=(g3)
cat > "$dir/hog.json" <<JOB
{"name":"hog","command":"sleep 25","labels":["solo"]}
JOB
ctl job put "$dir/hog.json" >/dev/null || fail "job put hog"
hog() { ctl job trigger hog >/dev/null 2>&1; }
sc_wait_until 30 hog || fail "trigger hog"
atcap() { grep '"event":"open".*"kind":"agent"' "$dir/hook.log" | grep -q 'at capacity.*"agent":"g3"'; }
sc_wait_until 60 atcap || fail "no at-capacity notice for g3: $(cat "$dir/hook.log")"
capok() { grep '"event":"resolve".*"kind":"agent"' "$dir/hook.log" | grep -q '"recovered":true.*"agent":"g3"'; }
sc_wait_until 60 capok || fail "no recovery for g3: $(cat "$dir/hook.log")"

it_stop_agents
it_sanitizers
echo ok
