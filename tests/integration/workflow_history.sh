#!/usr/bin/env bash
# tests/integration/workflow_history.sh: runs that ZooKeeper no longer holds
# are read from history, by shardcronctl and by the console, against the real
# ZooKeeper and MariaDB of tests/run-integration.
#
# A real agent (the leader runs the workflow driver, its history writer writes
# MySQL) runs three runs of a workflow whose second task hands an XCom output
# on; once history has them, the agent stops and the middle run's node is
# removed from ZooKeeper, as the driver's retention does. Then:
#   - `workflow run` of that run comes from history (source "history") with its
#     tasks, their outputs, its parameters and its logical time in the
#     workflow's zone; without --mysql it says where to look (exit 1);
#   - `workflow runs` lists all three newest first, the middle one from
#     history between ZooKeeper's two; a run in both shows ZooKeeper's state
#     (history's row is altered to differ); an unreachable history still lists
#     ZooKeeper's runs, with a warning;
#   - the console's GET /workflows/{name}/runs and GET /runs/{id} answer the
#     same, a viewer's parameters redacted; an unknown run is 404; with
#     history unreadable the list is ZooKeeper's with a Warning header, and a run
#     only history had is a 503 naming mysql.
. "$SC_ROOT/tests/lib/it.sh"
it_setup wfhist
[ -n "${WF_TRACE:-}" ] && set -x
cpid=""
trap '[ -n "$cpid" ] && kill "$cpid" 2>/dev/null; it_cleanup' EXIT

run_ctl() { # WANT_STATUS ARGS...: $out and $err; fails on another status
  local want=$1; shift
  set +e; out=$(ctl "$@" 2>"$dir/err"); rc=$?; set -e
  err=$(cat "$dir/err")
  [ "$rc" = "$want" ] || fail "shardcronctl $*: exit $rc, want $want (out: $out; err: $err)"
}
has() { echo "$2" | grep -q -- "$1" || fail "\"$1\" not in: $2"; }

it_agent h1 --session-timeout-ms 2000
echo '{"name":"hjob","command":"true","shards":2}' | ctl job put - >/dev/null || fail "job put"
cat >"$dir/flow.json" <<'EOF'
{"name":"hflow","timezone":"Asia/Shanghai","params":{"region":"cn"},
 "tasks":{"a":{"job":"hjob"},
          "b":{"command":"printf '{\"region\":\"%s\",\"item\":%s}' \"$SHARDCRON_PARAM_region\" \"$SHARDCRON_SHARD_ITEM\" > \"$SHARDCRON_XCOM_OUT\"",
               "upstream":["a"]}}}
EOF
run_ctl 0 workflow put "$dir/flow.json"
led() { ctl agents --format json | jq -e '.[0].leader' >/dev/null; }
sc_wait_until 30 led || fail "the agent never led"

runs=()
for day in 05 06 07; do
  trig() {
    set +e; out=$(ctl workflow trigger hflow --param region="r$day" \
      --logical-time "2026-12-${day}T01:00:00+08:00" --format json 2>"$dir/err"); rc=$?; set -e
    [ "$rc" = 0 ]
  }
  sc_wait_until 40 trig || fail "trigger never answered: $(cat "$dir/err")"
  runs+=("$(echo "$out" | jq -r .run_id)")
done
old=${runs[0]} mid=${runs[1]} new=${runs[2]}
[ "$mid" = "hflow@20261205T170000Z" ] || fail "run id: $mid"

all_done() {
  for r in "${runs[@]}"; do
    ctl workflow run "$r" --format json | jq -e '.state == "succeeded"' >/dev/null || return 1
  done
}
sc_wait_until 90 all_done || fail "runs never succeeded: $(ctl workflow runs hflow)"
# the history writer has every run ended, and the middle run's outputs
in_history() {
  [ "$(sql "SELECT COUNT(*) FROM workflow_run WHERE workflow='hflow' AND state='succeeded'")" = 3 ] &&
    [ "$(sql "SELECT COUNT(*) FROM task_xcom WHERE run_id='$mid' AND task='b'")" = 1 ] &&
    [ "$(sql "SELECT COUNT(*) FROM task_instance WHERE run_id='$mid' AND state='succeeded'")" = 2 ]
}
sc_wait_until 30 in_history || fail "history never had the runs: $(sql "SELECT run_id, state FROM workflow_run")"
it_stop_agents

# What the driver's retention does: the run leaves ZooKeeper, history keeps it.
/usr/share/zookeeper/bin/zkCli.sh -server "$SC_TEST_ZK" deleteall "/$ns/wfruns/$mid" >/dev/null 2>&1 ||
  fail "could not delete the run node"
set +e
err=$("$SC_BIN/shardcronctl" --zk "$SC_TEST_ZK" --namespace "$ns" workflow run "$mid" 2>&1 >/dev/null)
rc=$?; set -e
[ "$rc" = 1 ] || fail "run without --mysql: exit $rc ($err)"
has "give --mysql" "$err"

# ---- shardcronctl
run_ctl 0 workflow run "$mid" --format json
echo "$out" | jq -e --arg id "$mid" '.run_id == $id and .source == "history" and .state == "succeeded"
  and .workflow == "hflow" and .trigger == "manual" and .params.region == "r06"
  and .logical_time == "2026-12-06T01:00:00+08:00"
  and .tasks.a.state == "succeeded" and .tasks.a.attempt == 1 and .tasks.a.items == 2
  and .tasks.b.state == "succeeded" and .tasks.b.outputs["0"] == {"region":"r06","item":0}
  and .tasks.b.reason == "" and (.tasks.b.started_ms > 0) and (.tasks.b.ended_ms >= .tasks.b.started_ms)' \
  >/dev/null || fail "run from history: $out"
run_ctl 0 workflow run "$mid"
has "run $mid: succeeded" "$out"
has "from history" "$out"
has '{"0":{"region":"r06","item":0}}' "$out"
run_ctl 0 workflow run "$new" --format json
echo "$out" | jq -e '.source == "zookeeper"' >/dev/null || fail "run from ZooKeeper: $out"
run_ctl 1 workflow run "hflow@20261101T000000Z"
has "nor in history" "$err"

# ZooKeeper's view wins for a run in both: history's row is made to differ.
sql "UPDATE workflow_run SET state='failed' WHERE run_id='$new'"
run_ctl 0 workflow runs hflow --format json
echo "$out" | jq -e --arg o "$old" --arg m "$mid" --arg n "$new" 'length == 3
  and [.[].run_id] == [$n, $m, $o] and [.[].source] == ["zookeeper", "history", "zookeeper"]
  and .[0].state == "succeeded" and .[1].state == "succeeded" and .[1].logical_time == "2026-12-05T17:00:00Z"
  and (.[1] | has("params") | not) and (.[1].ended_ms > 0)' >/dev/null || fail "runs: $out"
run_ctl 0 workflow runs hflow
has "$mid .* succeeded .* manual .* history" "$out"
has "$new .* succeeded .* zookeeper" "$out"
# history unreachable: ZooKeeper's runs still listed, and the reason said
run_ctl 0 workflow runs hflow --format json --mysql "mysql://nobody@127.0.0.1:1/none"
echo "$out" | jq -e --arg o "$old" --arg n "$new" '[.[].run_id] == [$n, $o]' >/dev/null || fail "runs without history: $out"
has "only the runs ZooKeeper holds" "$err"
run_ctl 1 workflow run "$mid" --mysql "mysql://nobody@127.0.0.1:1/none"
has "history: " "$err"

# ---- the console
echo "pw-admin-12345" >"$dir/admin.pw"; chmod 600 "$dir/admin.pw"
echo "pw-viewer-12345" >"$dir/viewer.pw"; chmod 600 "$dir/viewer.pw"
ctl user add viewer --role viewer --password-file "$dir/viewer.pw" >/dev/null || fail "user add"
SHARDCRON_CONSOLE_PORT_FILE=$dir/port "$SC_BIN/shardcron-console" --zk "$SC_TEST_ZK" --namespace "$ns" \
  --mysql "$url" --mysql-password-file "$SC_TEST_MYSQL_PASSWORD_FILE" --listen 127.0.0.1:0 \
  --admin-password-file "$dir/admin.pw" >"$dir/console.log" 2>&1 &
cpid=$!
sc_wait_until 20 test -s "$dir/port" || fail "console did not start: $(tail -5 "$dir/console.log")"
port=$(cat "$dir/port")
req() { # PATH: $code and $body as USER ($jar)
  code=$(curl -s -o "$dir/body" -D "$dir/head" -w '%{http_code}' -b "$jar" "http://127.0.0.1:$port$1")
  body=$(cat "$dir/body")
}
expect() {
  [ "$code" = "$1" ] || fail "want $1, got $code: $body"
  echo "$body" | jq -e "$2" >/dev/null || fail "$2 is false in: $body"
}
login() {
  jar=$dir/jar.$1
  curl -fsS -c "$jar" -H 'Content-Type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"$2\"}" "http://127.0.0.1:$port/api/v1/login" >/dev/null ||
    fail "login $1"
}
health_ok() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/v1/health")" = 200 ]; }
sc_wait_until 20 health_ok || fail "console health never ok"
login admin pw-admin-12345
req /api/v1/runs/$mid
expect 200 '.source == "history" and .state == "succeeded" and .params.region == "r06"
  and .logical_time == "2026-12-06T01:00:00+08:00" and .tasks.b.outputs["0"] == {"region":"r06","item":0}
  and .tasks.a.items == 2'
req /api/v1/runs/$new
expect 200 '.source == "zookeeper" and .state == "succeeded"'
req /api/v1/runs/hflow@20261101T000000Z
expect 404 '.field == "run_id" and (.error | test("nor in history"))'
req /api/v1/workflows/hflow/runs
expect 200 "[.[].run_id] == [\"$new\", \"$mid\", \"$old\"] and [.[].source] == [\"zookeeper\", \"history\", \"zookeeper\"]
  and .[0].state == \"succeeded\""
login viewer pw-viewer-12345
req /api/v1/runs/$mid
expect 200 '.source == "history" and .params.region == "(redacted)" and .redacted == ["params"]'
# history that cannot be read (here: a schema without the runs table): the
# list still has ZooKeeper's runs and says why in a Warning; the run that only
# history had is a 503 naming mysql. The console's read cache answers from its
# last read for up to a second (docs/console.md), so each is awaited.
sql "RENAME TABLE workflow_run TO workflow_run_gone"
zk_only() { req /api/v1/workflows/hflow/runs; [ "$code" = 200 ] && echo "$body" | jq -e "[.[].run_id] == [\"$new\", \"$old\"]" >/dev/null; }
sc_wait_until 10 zk_only || fail "the list never lost history's run: $code $body"
grep -qi '^Warning: 199 - "only the runs ZooKeeper holds: history: ' "$dir/head" ||
  fail "no Warning header: $(cat "$dir/head")"
# the same answer from the cache carries the same Warning
req /api/v1/workflows/hflow/runs
grep -qi '^Warning: 199 - "only the runs ZooKeeper holds: history: ' "$dir/head" ||
  fail "no Warning header on a second read: $(cat "$dir/head")"
mid_gone() { req /api/v1/runs/$mid; [ "$code" = 503 ]; }
sc_wait_until 10 mid_gone || fail "history's run still answered: $code $body"
expect 503 '.field == "mysql" and (.error | test("history could not be read"))'

kill -TERM "$cpid"
wait "$cpid" || fail "console exit status $?"
cpid=""
if grep -q "runtime error:\|ERROR: AddressSanitizer\|ERROR: LeakSanitizer" "$dir/console.log"; then
  fail "sanitizer report in the console: $(grep -m3 'ERROR\|runtime error' "$dir/console.log")"
fi
it_sanitizers
echo "workflow_history: ok"
