#!/usr/bin/env bash
# tests/integration/alert_outbox.sh: alert delivery through the durable outbox
# (docs/alerts.md), with real ZooKeeper, MariaDB, two agents and loopback
# receivers (tests/lib/alert_receiver.py).
#  1. A receiver down for 20 s, then back, gets every notice decided meanwhile
#     exactly once (counted by notice_id on the receiver), the held ones marked
#     late with the time they were decided.
#  2. A job whose first channel never answers fails over to its second channel
#     once the first has failed for --alert-failover-s.
#  3. Jobs naming no channel use the agent's defaults (--alert-channels-file):
#     their domain's list, else the plain default; a bad file stops the agent.
#  4. The leader is killed (SIGKILL) while notices wait for a dead receiver;
#     the new leader delivers them, each once.
# Waits poll observable state with deadlines.
. "$SC_ROOT/tests/lib/it.sh"
it_setup outbox
rpids=()
cleanup() {
  for p in "${rpids[@]}"; do kill "$p" 2>/dev/null || true; done
  it_cleanup
}
trap cleanup EXIT
recv="$SC_ROOT/tests/lib/alert_receiver.py"

python3 "$recv" http "$dir/r1.port" "$dir/r1.log" & r1pid=$!; rpids+=($r1pid)
python3 "$recv" http "$dir/r2.port" "$dir/r2.log" & rpids+=($!)
sc_wait_until 30 test -s "$dir/r1.port" || fail "receiver 1 did not start"
sc_wait_until 30 test -s "$dir/r2.port" || fail "receiver 2 did not start"
r1=$(cat "$dir/r1.port") r2=$(cat "$dir/r2.port")
# A loopback port nothing listens on: connections are refused at once.
dead=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

# Default channels for jobs that name none: per domain, else the plain default.
cat > "$dir/defaults.json" <<JSON
{"default": [{"type":"webhook","url":"http://127.0.0.1:$r2/default"}],
 "domains": {"finance": [{"type":"webhook","url":"http://127.0.0.1:$r2/finance"}]}}
JSON
# A bad default file stops the agent at start, naming the field.
echo '{"domains":{"finance":[{"type":"webhook","url":"gopher://x"}]}}' > "$dir/bad-defaults.json"
err=$("$SC_BIN/shardcron-agent" --zk "$SC_TEST_ZK" --namespace "$ns" --id bad --work-dir "$dir/bad" \
  --mysql "$url" --mysql-password-file "$SC_TEST_MYSQL_PASSWORD_FILE" \
  --alert-channels-file "$dir/bad-defaults.json" 2>&1 >/dev/null) && fail "an agent started with a bad default channel"
echo "$err" | grep -q "alert_channels_file.domains.finance\[0\].url" || fail "bad defaults: $err"
for i in 1 2; do
  it_agent "ob$i" --session-timeout-ms 2000 --alert-interval-ms 300 --alert-reminder-s 2 \
    --webhook-timeout-ms 1500 --alert-retry-max-s 2 --alert-failover-s 6 \
    --alert-channels-file "$dir/defaults.json"
done
cat > "$dir/down.json" <<JOB
{"name":"down","cron":"* * * * * ?","command":"exit 1",
 "alert":{"on":["failure"],"channels":[{"type":"webhook","url":"http://127.0.0.1:$r1/down"}]}}
JOB
cat > "$dir/fo.json" <<JOB
{"name":"fo","cron":"* * * * * ?","command":"exit 1",
 "alert":{"on":["failure"],"channels":[{"type":"webhook","url":"http://127.0.0.1:$dead/x"},
                                       {"type":"slack","url":"http://127.0.0.1:$r2/slack"}]}}
JOB
echo '{"name":"dom","domain":"finance","cron":"* * * * * ?","command":"exit 1","alert":{"on":["failure"]}}' > "$dir/dom.json"
echo '{"name":"nodom","cron":"* * * * * ?","command":"exit 1","alert":{"on":["failure"]}}' > "$dir/nodom.json"
for j in down fo dom nodom; do ctl job put "$dir/$j.json" >/dev/null || fail "job put $j"; done

leader_id() {
  local a
  for a in ob1 ob2; do
    [ -s "$dir/$a/http.port" ] || continue
    curl -s "http://127.0.0.1:$(cat "$dir/$a/http.port")/status" | grep -q '"leader":true' \
      && { echo "$a"; return 0; }
  done
  return 1
}
# lines LOG: the complete lines of a log a receiver may be appending to.
lines() { [ -f "$1" ] && head -n "$(wc -l < "$1")" "$1"; }
got() { # got LOG PATH: notices the receiver accepted on PATH
  [ -f "$1" ] || { echo 0; return; }
  lines "$1" | jq -c --arg p "$2" 'select(.path == $p)' | grep -c . || true
}
dups() { # dups LOG: notice ids the receiver got more than once
  [ -f "$1" ] || return 0
  lines "$1" | jq -r '.body.notice_id' | sort | uniq -d
}
rows() { sql "SELECT COUNT(*) FROM alert_outbox WHERE job = '$1' AND $2"; }

# ---- 1. receiver down for 20 s, then back
first() { [ "$(got "$dir/r1.log" /down)" -ge 1 ]; }
sc_wait_until 40 first || fail "no notice for down: $(sql 'SELECT id, event, state, last_error FROM alert_outbox')"
kill "$r1pid"; wait "$r1pid" 2>/dev/null || true
t0=$(date +%s)
before=$(got "$dir/r1.log" /down)
outage() { # 20 s passed and reminders piled up, tried and failed
  [ $(($(date +%s) - t0)) -ge 20 ] && [ "$(rows down "state = 'pending' AND attempts >= 1")" -ge 3 ]
}
sc_wait_until 60 outage || fail "no pending notices during the outage: $(sql "SELECT id, event, state, attempts, last_error FROM alert_outbox WHERE job='down'")"
held=$(sql "SELECT MAX(id) FROM alert_outbox WHERE job = 'down' AND state = 'pending'")
python3 "$recv" http "$dir/r1.port" "$dir/r1.log" "" "$r1" & r1pid=$!; rpids+=($r1pid)
flushed() { [ "$(rows down "id <= $held AND state <> 'sent'")" = 0 ]; }
sc_wait_until 30 flushed || fail "held notices not delivered: $(sql "SELECT id, state, attempts, next_try, last_error FROM alert_outbox WHERE job='down' AND id <= $held")"
for id in $(sql "SELECT id FROM alert_outbox WHERE job = 'down' AND id <= $held AND state = 'sent'"); do
  n=$(lines "$dir/r1.log" | jq -r --argjson i "$id" 'select(.body.notice_id == $i) | .body.notice_id' | grep -c . || true)
  [ "$n" = 1 ] || fail "notice $id reached the receiver $n times"
done
[ -z "$(dups "$dir/r1.log")" ] || fail "notices received twice: $(dups "$dir/r1.log")"
late=$(lines "$dir/r1.log" | jq -c 'select(.body.late == true and (.body.late_since | type) == "string")' | grep -c . || true)
[ "$late" -ge 3 ] || fail "want the held notices marked late: $(cat "$dir/r1.log")"
[ "$(got "$dir/r1.log" /down)" -gt $((before + 2)) ] || fail "too few notices after the outage"
echo "outage: $(rows down "id <= $held") notices delivered once each, $late marked late" >&2

# ---- 2. failover to the second channel
failed_over() { [ "$(got "$dir/r2.log" /slack)" -ge 1 ] && [ "$(rows fo "state = 'failed_over'")" -ge 1 ]; }
sc_wait_until 40 failed_over || fail "no failover: $(sql "SELECT id, state, channel_idx, channel, first_fail, last_error FROM alert_outbox WHERE job='fo'")"
lines "$dir/r2.log" | jq -s -e 'map(select(.path == "/slack")) | length > 0 and all(.[]; .body.text | test("job fo"))' >/dev/null \
  || fail "slack body: $(cat "$dir/r2.log")"
[ "$(rows fo "state = 'sent' AND channel_idx = 0")" = 0 ] || fail "a notice was sent on the dead channel"
echo "failover: $(rows fo "state = 'failed_over'") notices moved to the second channel" >&2
metric() { curl -s "http://127.0.0.1:$(cat "$dir/$(leader_id)/http.port")/metrics" | awk -v k="$1" '$1 == k {print $2}'; }
[ "$(metric 'shardcron_agent_alert_outbox_total{result="failed_over"}')" -ge 1 ] &&
  [ "$(metric 'shardcron_agent_alert_outbox_total{result="delivered"}')" -ge 3 ] &&
  [ "$(metric 'shardcron_agent_alert_outbox_total{result="retried"}')" -ge 1 ] \
  || fail "outbox metrics: $(curl -s "http://127.0.0.1:$(cat "$dir/$(leader_id)/http.port")/metrics" | grep outbox)"

# ---- defaults: the domain's channels, else the plain default
defaults_used() {
  [ "$(lines "$dir/r2.log" | jq -c 'select(.path == "/finance" and .body.job == "dom")' | grep -c . || true)" -ge 1 ] &&
  [ "$(lines "$dir/r2.log" | jq -c 'select(.path == "/default" and .body.job == "nodom")' | grep -c . || true)" -ge 1 ]
}
sc_wait_until 30 defaults_used || fail "default channels not used: $(cat "$dir/r2.log")"
[ "$(lines "$dir/r2.log" | jq -c 'select(.path == "/default" and .body.job == "dom")' | grep -c . || true)" = 0 ] \
  || fail "the finance job went to the plain default"

# ---- 3. the leader dies while notices wait; the new leader delivers them once
kill "$r1pid"; wait "$r1pid" 2>/dev/null || true
mark=$(sql "SELECT IFNULL(MAX(id), 0) FROM alert_outbox WHERE job = 'down'")
waiting() { [ "$(rows down "id > $mark AND state = 'pending' AND attempts >= 1")" -ge 2 ]; }
sc_wait_until 30 waiting || fail "no notice waiting for the dead receiver"
old=$(leader_id) || fail "no leader"
opid=${it_pids[$(( ${old#ob} - 1 ))]}
kill -KILL "$opid"; wait "$opid" 2>/dev/null || true
it_pids=("${it_pids[@]/$opid}")
held=$(sql "SELECT MAX(id) FROM alert_outbox WHERE job = 'down' AND state = 'pending'")
python3 "$recv" http "$dir/r1.port" "$dir/r1.log" "" "$r1" & r1pid=$!; rpids+=($r1pid)
newleader() { l=$(leader_id) && [ "$l" != "$old" ]; }
sc_wait_until 30 newleader || fail "no new leader after killing $old"
sc_wait_until 40 flushed || fail "the new leader did not deliver: $(sql "SELECT id, state, attempts, claim, last_error FROM alert_outbox WHERE job='down' AND id <= $held")"
for id in $(sql "SELECT id FROM alert_outbox WHERE job = 'down' AND id > $mark AND id <= $held"); do
  n=$(lines "$dir/r1.log" | jq -r --argjson i "$id" 'select(.body.notice_id == $i) | .body.notice_id' | grep -c . || true)
  [ "$n" = 1 ] || fail "notice $id reached the receiver $n times after the leader change"
done
[ -z "$(dups "$dir/r1.log")" ] || fail "notices received twice: $(dups "$dir/r1.log")"
echo "leader $old killed: $(rows down "id > $mark AND id <= $held") waiting notices delivered once each by $(leader_id)" >&2

pids=()
for p in "${it_pids[@]}"; do [ -n "$p" ] && pids+=("$p"); done
it_pids=("${pids[@]}")
it_stop_agents
it_sanitizers
echo ok
