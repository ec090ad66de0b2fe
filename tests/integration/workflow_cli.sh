#!/usr/bin/env bash
# tests/integration/workflow_cli.sh: `shardcronctl workflow ...` and the console's
# workflow API against the real ZooKeeper and MariaDB of tests/run-integration.
# Requests to the leader's driver are answered by the fake driver of
# tests/integration/test_wfzk.c (it_test_wfzk --fake-driver NS: real nodes under
# /wfreq and /wfruns, answered as workflow/wfzk.h says the driver does); with no
# driver running, both the CLI and the API must say that no leader answered.
#
# CLI: put valid/invalid (a cycle and an unknown job named, exit 2), get, list,
# enable/disable, delete (refused while a run is active), trigger/runs/run/
# clear/mark/cancel/backfill with the driver's answers and refusals (exit 1),
# input errors (exit 2 naming the field). API: 401 without a session, 403 for a
# viewer's write, an operator's definition write, a missing CSRF token; 400
# naming the field; 409 on a stale version; the same operations; audit rows.
set -euo pipefail
[ -n "${WF_TRACE:-}" ] && set -x
fail() { echo "FAIL: $*" >&2; [ -n "${clog:-}" ] && [ -f "$clog" ] && tail -20 "$clog" >&2; exit 1; }
bin=${SC_BIN:?}
driver_bin=$SC_ROOT/build/asan/tests/it_test_wfzk
[ -x "$driver_bin" ] || fail "$driver_bin missing (make asan builds it)"
pwf=$SC_TEST_MYSQL_PASSWORD_FILE
db=shardcron_wfcli_$$
ns=wfcli_$$
tmp=$(mktemp -d "$SC_TEST_TMP/wfcli.XXXX")
clog=$tmp/console.log
client() { "$SC_ROOT/scripts/mysql" client "$SC_TEST_MYSQL_DIR" "$@"; }
cpid="" dpid=""
cleanup() {
  [ -n "$cpid" ] && kill "$cpid" 2>/dev/null || true
  [ -n "$dpid" ] && kill "$dpid" 2>/dev/null || true
  client -e "DROP DATABASE IF EXISTS $db" || true
}
trap cleanup EXIT
. "$SC_ROOT/scripts/lib.sh"
wait_for() { sc_wait_until "$@"; }

ctl() { "$bin/shardcronctl" --zk "$SC_TEST_ZK" --namespace "$ns" "$@"; }
# run_ctl WANT_STATUS ARGS...: $out and $err of the command; fails on another status
run_ctl() {
  local want=$1; shift
  set +e; out=$(ctl "$@" 2>"$tmp/err"); rc=$?; set -e
  err=$(cat "$tmp/err")
  [ "$rc" = "$want" ] || fail "shardcronctl $*: exit $rc, want $want (out: $out; err: $err)"
}
has() { echo "$2" | grep -q -- "$1" || fail "\"$1\" not in: $2"; }
start_driver() { "$driver_bin" --fake-driver "$ns" >"$tmp/driver.log" 2>&1 & dpid=$!; }
stop_driver() { kill -TERM "$dpid"; wait "$dpid" || fail "fake driver exit $?"; dpid=""; }

cat >"$tmp/etl.json" <<'EOF'
{"name":"etl","cron":"0 0 1 * * ?","timezone":"Asia/Shanghai","params":{"region":"cn"},
 "tasks":{"extract":{"job":"extract-orders"},"load":{"command":"true","upstream":["extract"]}}}
EOF
cat >"$tmp/cycle.json" <<'EOF'
{"name":"cyc","tasks":{"x":{"command":"true","upstream":["z"]},"y":{"command":"true","upstream":["x"]},
 "z":{"command":"true","upstream":["y"]}}}
EOF

# ---- CLI: definitions
run_ctl 2 workflow put "$tmp/etl.json"              # its job does not exist yet
has extract-orders "$err"; has extract "$err"
echo '{"name":"extract-orders","cron":"0 0 1 * * ?","command":"true"}' | ctl job put - >/dev/null
run_ctl 0 workflow put "$tmp/etl.json"; has "workflow etl created" "$out"
run_ctl 0 workflow put - <"$tmp/etl.json"; has "workflow etl updated (version 1)" "$out"
run_ctl 2 workflow put "$tmp/cycle.json"
has cycle "$err"; for t in x y z; do has "$t" "$err"; done
run_ctl 1 workflow get cyc                          # nothing of it was stored
has "no workflow named cyc" "$err"
echo '{"name":"broken",' >"$tmp/broken.json"
run_ctl 2 workflow put "$tmp/broken.json"
run_ctl 2 workflow get 'bad name'; has name "$err"
run_ctl 0 workflow get etl
[ "$(echo "$out" | jq -r '.name + " " + .timezone + " " + (.tasks | keys | join(","))')" = "etl Asia/Shanghai extract,load" ] \
  || fail "get: $out"
run_ctl 0 workflow list
has etl "$out"; has enabled "$out"; has "0 0 1 \* \* ?" "$out"
run_ctl 0 workflow disable etl
run_ctl 0 workflow list --format json
echo "$out" | jq -e '.[0].name == "etl" and .[0].enabled == false and .[0].tasks == 2 and .[0].next_logical_time == null' >/dev/null \
  || fail "list after disable: $out"
run_ctl 0 workflow enable etl
run_ctl 0 workflow list --format json
echo "$out" | jq -e '.[0].enabled == true and (.[0].next_logical_time | test("T01:00:00\\+08:00$"))' >/dev/null \
  || fail "list after enable: $out"
run_ctl 1 workflow enable nosuch; has "no workflow named nosuch" "$err"

# ---- CLI: requests, first with no driver at all
run_ctl 1 workflow trigger etl
has "no leader answered within 15 s" "$err"
run_ctl 2 workflow trigger etl --param 'bad key=1'; has param "$err"
run_ctl 2 workflow trigger etl --param a=1 --param a=2; has param "$err"
run_ctl 2 workflow trigger etl --logical-time yesterday; has logical-time "$err"
run_ctl 2 workflow cancel not-a-run-id; has run_id "$err"
run_ctl 2 workflow mark 'etl@20251207T010000Z' load finished; has state "$err"
run_ctl 2 workflow backfill etl --from 2025-12-01T00:00:00Z; has to "$err"
run_ctl 2 workflow backfill etl --from 2025-12-02T00:00:00Z --to 2025-12-01T00:00:00Z; has to "$err"
run_ctl 2 workflow backfill etl --from 1764547200 --to 1764633600 --reprocess some; has reprocess "$err"

start_driver
run_ctl 0 workflow trigger etl --param region=eu --param day=mon --logical-time 2025-12-07T09:00:00+08:00 --format json
[ "$(echo "$out" | jq -c .)" = '{"run_id":"etl@20251207T010000Z"}' ] || fail "trigger: $out"
run=etl@20251207T010000Z
run_ctl 0 workflow trigger etl --logical-time 1765155600
has "etl@20251208T010000Z" "$out"
run_ctl 1 workflow trigger cyc; has "no workflow of that name" "$err"
run_ctl 0 workflow runs etl --format json
echo "$out" | jq -e '[.[].run_id] == ["etl@20251208T010000Z","etl@20251207T010000Z"] and .[1].state == "queued"' >/dev/null \
  || fail "runs: $out"
run_ctl 0 workflow runs etl; has "$run" "$out"
run_ctl 0 workflow run "$run" --format json
echo "$out" | jq -e '.run_id == "etl@20251207T010000Z" and .state == "queued" and .logical_time == "2025-12-07T01:00:00Z"
  and .params == {"region":"eu","day":"mon"} and (.tasks | keys) == [] ' >/dev/null || fail "run: $out"
run_ctl 1 workflow run 'etl@20200101T000000Z'; has "no run" "$err"
run_ctl 1 workflow mark "$run" nope failed; has "the run has no task nope" "$err"
run_ctl 0 workflow mark "$run" load skipped --format json
echo "$out" | jq -e '.echo.op == "mark" and .echo.state == "skipped" and .echo.task == "load"' >/dev/null || fail "mark: $out"
run_ctl 0 workflow clear "$run" extract --downstream --format json
echo "$out" | jq -e '.echo.downstream == true and .echo.task == "extract"' >/dev/null || fail "clear: $out"
run_ctl 0 workflow backfill etl --from 2025-12-01T09:00:00+08:00 --to 1764633600 --reprocess failed --dry-run --format json
echo "$out" | jq -e '.echo.from_ms == 1764550800000 and .echo.to_ms == 1764633600000 and .echo.reprocess == "failed"
  and .echo.dry_run == true' >/dev/null || fail "backfill: $out"
run_ctl 0 workflow backfill etl --from 2025-12-01T01:00:00Z --to 2025-12-03T01:00:00Z --dry-run
has "etl@20251201T010000Z .* skip .* succeeded" "$out"
has "etl@20251203T010000Z .* create" "$out"
has "dry run: 1 of 2 logical times would get a run; nothing was created" "$out"
run_ctl 1 workflow delete etl; has "active run" "$err"
run_ctl 0 workflow cancel "$run"; has cancelled "$out"
run_ctl 0 workflow cancel etl@20251208T010000Z
run_ctl 0 workflow run "$run" --format json
echo "$out" | jq -e '.state == "cancelled"' >/dev/null || fail "run after cancel: $out"
stop_driver

# ---- the console
client -e "CREATE DATABASE $db"
client "$db" < "$SC_ROOT/sql/schema.sql"
dburl=${SC_TEST_MYSQL%/*}/$db
echo "pw-admin-12345" >"$tmp/admin.pw"; chmod 600 "$tmp/admin.pw"
for u in operator:operator viewer:viewer; do
  echo "pw-${u%%:*}-12345" >"$tmp/${u%%:*}.pw"; chmod 600 "$tmp/${u%%:*}.pw"
  "$bin/shardcronctl" user add "${u%%:*}" --role "${u##*:}" --password-file "$tmp/${u%%:*}.pw" \
    --mysql "$dburl" --mysql-password-file "$pwf" >/dev/null || fail "user add ${u%%:*}"
done
SHARDCRON_CONSOLE_PORT_FILE=$tmp/port "$bin/shardcron-console" --zk "$SC_TEST_ZK" --namespace "$ns" \
  --mysql "$dburl" --mysql-password-file "$pwf" --listen 127.0.0.1:0 \
  --admin-password-file "$tmp/admin.pw" >"$clog" 2>&1 &
cpid=$!
wait_for 20 test -s "$tmp/port" || fail "console did not start"
port=$(cat "$tmp/port")
jar=$tmp/none csrf=""
req() {
  local m=$1 p=$2 d=${3:-}; shift 3 2>/dev/null || shift $#
  local args=(-s -o "$tmp/body" -w '%{http_code}' -X "$m" -b "$jar" -c "$jar" -D "$tmp/head")
  [ -n "$csrf" ] && args+=(-H "X-CSRF-Token: $csrf")
  [ -n "$d" ] && args+=(-H 'Content-Type: application/json' --data-binary "$d")
  code=$(curl "${args[@]}" "$@" "http://127.0.0.1:$port$p")
  body=$(cat "$tmp/body")
}
expect() {
  [ "$code" = "$1" ] || fail "want $1, got $code: $body"
  if [ -n "${2:-}" ]; then echo "$body" | jq -e "$2" >/dev/null || fail "$2 is false in: $body"; fi
}
login() {
  jar=$tmp/jar.$1; csrf=""
  req POST /api/v1/login "{\"username\":\"$1\",\"password\":\"$2\"}"
  expect 200 ".role != null"
  csrf=$(echo "$body" | jq -r .csrf)
}
health_ok() { req GET /api/v1/health; [ "$code" = 200 ]; }
wait_for 20 health_ok || fail "health never ok: $code $body"

req GET /api/v1/workflows; expect 401
req POST /api/v1/runs/$run/cancel; expect 401

login viewer pw-viewer-12345
req GET /api/v1/workflows; expect 200 '.[0].name == "etl" and .[0].tasks == 2 and .[0].enabled == true'
req GET /api/v1/workflows/etl; expect 200 '.name == "etl" and .workflow.params.region == "(redacted)" and .redacted == ["params"]'
req GET /api/v1/workflows/nosuch; expect 404 '.field == "name"'
req GET "/api/v1/workflows/bad%20name"; expect 404 '.field == "name"'
req GET /api/v1/runs/$run; expect 200 '.state == "cancelled" and .params.day == "(redacted)"'
etag=$(sed -n 's/^[Ee][Tt][Aa][Gg]: *\("[0-9a-f]*"\).*/\1/p' "$tmp/head" | tr -d '\r')
[ -n "$etag" ] || fail "no ETag on a run"
req GET /api/v1/runs/$run '' -H "If-None-Match: $etag"; expect 304
# gzipped for a client that takes it (curl inflates it), under the weak ETag
req GET /api/v1/runs/$run '' --compressed; expect 200 '.state == "cancelled" and .params.day == "(redacted)"'
grep -qi '^content-encoding: gzip' "$tmp/head" || fail "a run was not gzipped for a client taking gzip"
grep -qi "^etag: W/$etag" "$tmp/head" || fail "gzipped run without the weak ETag W/$etag"
req GET /api/v1/runs/$run '' --compressed -H "If-None-Match: W/$etag"; expect 304
req GET /api/v1/runs/not-a-run; expect 404 '.field == "run_id"'
req GET /api/v1/workflows/etl/runs; expect 200 'length == 2 and .[1].run_id == "etl@20251207T010000Z"'
req POST /api/v1/workflows/etl/trigger '{}'; expect 403
req PUT /api/v1/workflows/etl "$(cat "$tmp/etl.json")"; expect 403

login operator pw-operator-12345
# the viewer's answer (kept by the console's read cache) is not an operator's
req GET /api/v1/runs/$run; expect 200 '.params.day == "mon" and .redacted == null'
req GET /api/v1/runs/$run '' -H "If-None-Match: $etag"; expect 200 '.params.day == "mon"'
req PUT /api/v1/workflows/etl "$(cat "$tmp/etl.json")"; expect 403      # definitions: admins
req GET /api/v1/workflows/etl; expect 200 '.workflow.params.region == "cn"'
saved_csrf=$csrf csrf=""
req POST /api/v1/workflows/etl/disable; expect 403                        # no CSRF token
csrf=$saved_csrf
# no driver: the console says so after the wait, and stays responsive meanwhile
curl -s -o "$tmp/trig" -w '%{http_code}' -X POST -b "$jar" -H "X-CSRF-Token: $csrf" \
  -H 'Content-Type: application/json' --data-binary '{"params":{"a":"1"}}' \
  "http://127.0.0.1:$port/api/v1/workflows/etl/trigger" >"$tmp/trigcode" & trig=$!
"$driver_bin" --wait-request "$ns" || fail "the trigger never reached /wfreq"
t0=$(date +%s%N)
req GET /api/v1/health; expect 200
[ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 2000 ] || fail "the loop was held by a pending request"
wait "$trig"
[ "$(cat "$tmp/trigcode")" = 503 ] || fail "trigger without a driver: $(cat "$tmp/trigcode") $(cat "$tmp/trig")"
jq -e '.error == "no leader answered within 15 s"' "$tmp/trig" >/dev/null || fail "trigger: $(cat "$tmp/trig")"
start_driver
req POST /api/v1/workflows/etl/trigger '{"params":{"a":1}}'; expect 400 '.field == "params"'
req POST /api/v1/workflows/etl/trigger '{"logical_time":"soon"}'; expect 400 '.field == "logical_time"'
req POST /api/v1/workflows/etl/trigger '{"colour":"red"}'; expect 400 '.field == "colour"'
req POST /api/v1/workflows/etl/trigger '{"params":{"a":"1"},"logical_time":"2025-12-09T09:00:00+08:00"}'
expect 200 '.run_id == "etl@20251209T010000Z" and .echo.user == "operator" and .echo.params == {"a":"1"}'
req POST /api/v1/workflows/nosuch/trigger '{}'; expect 404 '.error == "no workflow of that name"'
req POST /api/v1/runs/etl@20251209T010000Z/mark '{"task":"nope","state":"failed"}'; expect 404 '.field == "task"'
req POST /api/v1/runs/etl@20251209T010000Z/mark '{"task":"load","state":"done"}'; expect 400 '.field == "state"'
req POST /api/v1/runs/etl@20251209T010000Z/mark '{"state":"failed"}'; expect 400 '.field == "task"'
req POST /api/v1/runs/etl@20251209T010000Z/mark '{"task":"load","state":"succeeded"}'; expect 200 '.echo.op == "mark"'
req POST /api/v1/runs/etl@20251209T010000Z/clear '{"task":"extract","downstream":true}'; expect 200 '.echo.downstream == true'
req POST /api/v1/workflows/etl/backfill '{"from":"2025-12-01T00:00:00Z","to":1764633600000,"dry_run":true}'
expect 200 '.echo.from_ms == 1764547200000 and .echo.to_ms == 1764633600000 and .echo.reprocess == "none"'
req POST /api/v1/workflows/etl/backfill '{"from":"2025-12-01T00:00:00Z"}'; expect 400 '.field == "to"'
req POST /api/v1/workflows/etl/backfill '{"from":1,"to":2,"reprocess":"most"}'; expect 400 '.field == "reprocess"'
req GET /api/v1/runs/etl@20251209T010000Z; expect 200 '.state == "queued"'
req POST /api/v1/runs/etl@20251209T010000Z/cancel; expect 200 '.state == "cancelled"'
# a write through the console: the next read shows it at once (no cached answer)
req GET /api/v1/runs/etl@20251209T010000Z; expect 200 '.state == "cancelled"'
req GET /api/v1/workflows/etl/runs; expect 200 '.[] | select(.run_id == "etl@20251209T010000Z") | .state == "cancelled"'
# a change the console did not make: seen within the cache's second plus a read
run_ctl 0 workflow trigger etl --logical-time 2025-12-10T01:00:00Z
req GET /api/v1/runs/etl@20251210T010000Z; expect 200 '.state == "queued"'
run_ctl 0 workflow cancel etl@20251210T010000Z
t0=$(date +%s%N)
run_cancelled() { req GET /api/v1/runs/etl@20251210T010000Z; [ "$code" = 200 ] && echo "$body" | jq -e '.state == "cancelled"' >/dev/null; }
wait_for 10 run_cancelled || fail "an outside cancel never showed: $body"
echo "workflow_cli: outside change seen after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
req POST /api/v1/workflows/etl/disable; expect 200 '.workflow.enabled == false'
req POST /api/v1/workflows/etl/enable '' -H 'If-Match: "0"'; expect 409 '.field == "version"'
req POST /api/v1/workflows/etl/enable; expect 200 '.workflow.enabled == true'

login admin pw-admin-12345
req GET /api/v1/workflows/etl; expect 200
v=$(echo "$body" | jq .version)
grep -qi "^etag: \"$v\"" "$tmp/head" || fail "no ETag \"$v\""
new=$(jq -c '.description = "nightly"' "$tmp/etl.json")
req PUT /api/v1/workflows/etl "$new" -H "If-Match: \"$v\""; expect 200 ".version == $((v + 1)) and .created == false and .workflow.description == \"nightly\""
req PUT /api/v1/workflows/etl "$new" -H "If-Match: \"$v\""; expect 409 '.field == "version"'
req PUT /api/v1/workflows/etl "$(jq -c ".version = $v" <<<"$new")"; expect 409
req PUT /api/v1/workflows/cyc "$(cat "$tmp/cycle.json")"; expect 400 '.field == "tasks" and (.error | test("cycle"))'
req PUT /api/v1/workflows/u '{"tasks":{"t":{"job":"no-such-job"}}}'; expect 400 '(.field | test("t")) and (.error | test("no-such-job"))'
req PUT /api/v1/workflows/other "$(cat "$tmp/etl.json")"; expect 400 '.field == "name"'
req PUT /api/v1/workflows/two '{"tasks":{"a":{"command":"true"}}}'; expect 201 '.created == true and .workflow.name == "two"'
req GET /api/v1/workflows; expect 200 '[.[].name] == ["etl","two"]'
req DELETE /api/v1/workflows/two '' -H 'If-Match: "7"'; expect 409
req DELETE /api/v1/workflows/two; expect 200 '.deleted == "two"'
req DELETE /api/v1/workflows/two; expect 404
stop_driver

# ---- audit rows of the writes, by whom
n=$(client "$db" -N -e "SELECT COUNT(*) FROM audit_log WHERE object_type='workflow' AND object_name='etl' AND action='update' AND username='admin' AND after_json LIKE '%nightly%'")
[ "$n" = 1 ] || fail "audit: PUT rows $n"
n=$(client "$db" -N -e "SELECT COUNT(*) FROM audit_log WHERE object_type='run' AND action IN ('mark','clear','cancel') AND username='operator'")
[ "$n" = 3 ] || fail "audit: run operations $n"
n=$(client "$db" -N -e "SELECT COUNT(*) FROM audit_log WHERE object_type='workflow' AND action='trigger' AND username='operator'")
[ "$n" = 1 ] || fail "audit: triggers $n (only the answered one)"
n=$(client "$db" -N -e "SELECT COUNT(*) FROM audit_log WHERE object_type='workflow' AND object_name='two' AND action IN ('create','delete')")
[ "$n" = 2 ] || fail "audit: create/delete $n"

# ---- CLI delete once nothing is active; a clean console stop
run_ctl 0 workflow delete etl
run_ctl 1 workflow get etl
# SIGTERM while a trigger waits for a driver that is not there: the worker ends
# its wait (withdrawing the request) and the console exits 0, without a
# sanitizer report, within the wait's bound (the client's connection is closed
# with the loop, as for any request in flight)
login operator pw-operator-12345
curl -s -o /dev/null -X POST -b "$jar" -H "X-CSRF-Token: $csrf" \
  -H 'Content-Type: application/json' --data-binary '{}' \
  "http://127.0.0.1:$port/api/v1/workflows/nosuch/trigger" & trig=$!
"$driver_bin" --wait-request "$ns" || fail "the trigger never reached /wfreq"
kill -TERM "$cpid"
stopped() { ! kill -0 "$cpid" 2>/dev/null; }
wait_for 25 stopped || fail "console did not stop within the request's wait"
wait "$trig" || true
set +e; wait "$cpid"; rc=$?; set -e; cpid=""
[ $rc = 0 ] || fail "console exit status $rc"
grep -q 'ERROR: \(Address\|Leak\)Sanitizer\|runtime error' "$clog" "$tmp/driver.log" && fail "sanitizer report"
echo "workflow_cli: ok"
