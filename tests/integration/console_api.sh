#!/usr/bin/env bash
# tests/integration/console_api.sh: shardcron-console's JSON API end to end, against
# the real ZooKeeper and MariaDB of tests/run-integration and a real agent: every
# route, logins and roles (no session 401, viewer write 403, missing CSRF 403),
# validation errors naming the field, 409 on a concurrent edit, body cap 413,
# static files (traversal 404, symlink out 403), alert webhooks (open, resolve, a
# dead receiver), history routes over rows in a
# scratch database, the shard map against two agents' own view, alert panels, export -> delete all -> import round trip, and a
# clean SIGTERM without sanitizer reports. Waits poll observable state with deadlines.
set -euo pipefail
fail() { echo "FAIL: $*" >&2; [ -n "${clog:-}" ] && tail -20 "$clog" >&2; exit 1; }
bin=${SC_BIN:?}
pwf=$SC_TEST_MYSQL_PASSWORD_FILE
base=${SC_TEST_MYSQL%/*}
db=shardcron_console_$$
ns=console_$$
tmp=$(mktemp -d "$SC_TEST_TMP/console.XXXX")
clog=$tmp/console.log
client() { "$SC_ROOT/scripts/mysql" client "$SC_TEST_MYSQL_DIR" "$@"; }
cpid="" apid="" a2pid="" hookpid=""
cleanup() {
  [ -n "$cpid" ] && kill "$cpid" 2>/dev/null || true
  [ -n "$apid" ] && kill "$apid" 2>/dev/null || true
  [ -n "$a2pid" ] && kill "$a2pid" 2>/dev/null || true
  [ -n "$hookpid" ] && kill "$hookpid" 2>/dev/null || true
  client -e "DROP DATABASE IF EXISTS $db" || true
}
trap cleanup EXIT

# wait_for DEADLINE_S CMD...: the project's bounded poll (scripts/lib.sh).
. "$SC_ROOT/scripts/lib.sh"
wait_for() { sc_wait_until "$@"; }

# req METHOD PATH [BODY] [curl args...]: sets $code and $body.
jar=$tmp/none
csrf=""
req() {
  local m=$1 p=$2 d=${3:-}; shift 3 2>/dev/null || shift $#
  local args=(-s -o "$tmp/body" -w '%{http_code}' -X "$m" -b "$jar" -c "$jar")
  [ -n "$csrf" ] && args+=(-H "X-CSRF-Token: $csrf")
  [ -n "$d" ] && args+=(-H 'Content-Type: application/json' --data-binary "$d")
  code=$(curl "${args[@]}" "$@" "http://127.0.0.1:$port$p")
  body=$(cat "$tmp/body")
}
expect() { # expect CODE [JQ-FILTER]: the last reply had CODE and FILTER is true
  [ "$code" = "$1" ] || fail "want $1, got $code: $body"
  if [ -n "${2:-}" ]; then echo "$body" | jq -e "$2" >/dev/null || fail "$2 is false in: $body"; fi
}
login() { # login USER PASSWORD: jar per user
  jar=$tmp/jar.$1; csrf=""
  req POST /api/v1/login "{\"username\":\"$1\",\"password\":\"$2\"}"
  expect 200 ".role != null"
  csrf=$(echo "$body" | jq -r .csrf)
}

# ---- database, users
client -e "CREATE DATABASE $db"
client "$db" < "$SC_ROOT/sql/schema.sql"
dburl=$base/$db
echo "pw-admin-12345" > "$tmp/admin.pw"; chmod 600 "$tmp/admin.pw"   # first start creates admin
for u in operator:operator viewer:viewer locked:viewer; do
  echo "pw-${u%%:*}-12345" > "$tmp/${u%%:*}.pw"; chmod 600 "$tmp/${u%%:*}.pw"
  "$bin/shardcronctl" user add "${u%%:*}" --role "${u##*:}" --password-file "$tmp/${u%%:*}.pw" \
    --mysql "$dburl" --mysql-password-file "$pwf" >/dev/null || fail "user add ${u%%:*}"
done
client "$db" -N -e "SELECT pw_hash FROM app_user WHERE username='viewer'" | grep -q '^\$argon2id\$' \
  || fail "password not stored as an argon2id hash"
set +e; "$bin/shardcronctl" user add x --role root --password-file "$tmp/admin.pw" --mysql "$dburl" \
  --mysql-password-file "$pwf" 2>/dev/null; rc=$?; set -e
[ $rc = 2 ] || fail "user add with a bad role: exit $rc, want 2"

# ---- web directory with a symlink pointing out of it
mkdir -p "$tmp/web/sub" "$tmp/web/vendor" "$tmp/web/node_modules/x"
cp "$SC_ROOT"/console/web/{index.html,app.js,wf.js,cal.js,app.css,package.json} "$tmp/web/"
echo 'console.log(1)' > "$tmp/web/vendor/a.js"
echo 'console.log(1)' > "$tmp/web/sub/a.js"
echo 'console.log(1)' > "$tmp/web/node_modules/x/index.js"
echo 'secret' > "$tmp/web/.env.js"
ln -s /etc/passwd "$tmp/web/leak.js"

# ---- one agent and the console
"$bin/shardcron-agent" --zk "$SC_TEST_ZK" --namespace "$ns" --id a1 --work-dir "$tmp/a1" \
  --mysql "$dburl" --mysql-password-file "$pwf" \
  --http 127.0.0.1:0 --session-timeout-ms 2000 --labels batch --alert-interval-ms 300 >"$tmp/agent.log" 2>&1 &
apid=$!
SHARDCRON_CONSOLE_PORT_FILE=$tmp/port "$bin/shardcron-console" --zk "$SC_TEST_ZK" --namespace "$ns" \
  --mysql "$dburl" --mysql-password-file "$pwf" --listen 127.0.0.1:0 --web "$tmp/web" \
  --max-connections 40 --admin-password-file "$tmp/admin.pw" >"$clog" 2>&1 &
cpid=$!
wait_for 20 test -s "$tmp/port" || fail "console did not start"
port=$(cat "$tmp/port")
health_ok() { req GET /api/v1/health; [ "$code" = 200 ]; }
client "$db" -N -e "SELECT pw_hash FROM app_user WHERE username='admin' AND role='admin'" | grep -q '^\$argon2id\$' \
  || fail "first start did not create the admin"
wait_for 20 health_ok || fail "health never ok: $code $body"
mysql_ok() { req GET /api/v1/health; echo "$body" | jq -e '.zookeeper == "connected" and .mysql == true and .mysql_error == null' >/dev/null; }
wait_for 10 mysql_ok || fail "health never saw MySQL answer: $body"

# ---- unauthenticated
req GET /api/v1/jobs; expect 401 '.field == "session"'
req GET /api/v1/agents; expect 401
req GET /api/v1/cron/preview?expr=x; expect 401
req PUT /api/v1/jobs/j1 '{"cron":"* * * * * ?","command":"true"}'; expect 401
req POST /api/v1/login '{"username":"admin","password":"wrong-password"}'; expect 401
req POST /api/v1/login '{"username":"admin"}'; expect 400 '.field == "password"'
req POST /api/v1/login '{"username":"admin",'; expect 400 '.field == "body" and (.error | test("offset"))'
# five wrong passwords lock the name for the window, even against the right one
for _ in 1 2 3 4 5; do req POST /api/v1/login '{"username":"locked","password":"nope-nope"}'; expect 401; done
req POST /api/v1/login '{"username":"locked","password":"pw-locked-12345"}'; expect 429 '.field == "username"'
req GET /api/v1/no/such/route; expect 404 '.error != null'
req DELETE /api/v1/health; expect 405
req GET /metrics; expect 200
echo "$body" | grep -q '^shardcron_console_requests_total [0-9]' || fail "metrics: $body"

# ---- admin: create jobs, validation naming the field
login admin pw-admin-12345
req GET /api/v1/session; expect 200 '.user == "admin" and .role == "admin"'
req PUT /api/v1/jobs/settle '{"cron":"0/5 * * * * ?","command":"true","shards":4,"timezone":"Asia/Shanghai","labels":["batch"],"domain":"finance","level":2}'
expect 201 '.version == 0 and .job.shards == 4'
req PUT /api/v1/jobs/report '{"cron":"0 0 1 * * ?","command":"true","shards":2,"failover":false}'
expect 201
req PUT /api/v1/jobs/nowhere '{"cron":"0 0 1 * * ?","command":"true","labels":["gpu"]}'
expect 201
req PUT /api/v1/jobs/bad '{"cron":"0/5 * * * * ?","command":"true","shards":0}'; expect 400 '.field == "shards"'
req PUT /api/v1/jobs/bad '{"cron":"0/5 * * * * X","command":"true"}'; expect 400 '.field | test("cron")'
req PUT /api/v1/jobs/bad '{"cron":"0/5 * * * * ?","command":"true","timezone":"Mars/Olympus"}'; expect 400 '.field == "timezone"'
req PUT /api/v1/jobs/bad '{"cron":"0/5 * * * * ?","command":"true","colour":"red"}'; expect 400 '.field == "colour"'
req PUT /api/v1/jobs/bad '{"name":"other","cron":"0/5 * * * * ?","command":"true"}'; expect 400 '.field == "name"'
req PUT /api/v1/jobs/bad '{"cron": 5'; expect 400 '.field == "body" and (.error | test("offset [0-9]+"))'
long=$(printf 'x%.0s' $(seq 200))
req PUT "/api/v1/jobs/$long" '{"cron":"0/5 * * * * ?","command":"true"}'; expect 400 '.field == "name"'
req GET /api/v1/jobs/bad; expect 404
# header injection attempt in a job name: refused, nothing stored
req PUT "/api/v1/jobs/a%0d%0aSet-Cookie:x" '{"cron":"0/5 * * * * ?","command":"true"}'; expect 400 '.field == "name"'
big=$(head -c 5000000 /dev/zero | tr '\0' 'a')
echo "{\"description\":\"$big\"}" > "$tmp/big.json"
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -b "$jar" -H "X-CSRF-Token: $csrf" \
  --data-binary @"$tmp/big.json" "http://127.0.0.1:$port/api/v1/jobs/huge")
[ "$code" = 413 ] || fail "oversized body: $code, want 413"
req GET /api/v1/jobs; expect 200 '.total == 3 and ([.jobs[].name] == ["nowhere","report","settle"])'

# ---- 409 on a concurrent edit (both edits read version 0)
req PUT /api/v1/jobs/report '{"cron":"0 0 2 * * ?","command":"true","shards":2,"failover":false}' -H 'If-Match: "0"'
expect 200 '.version == 1'
req PUT /api/v1/jobs/report '{"cron":"0 0 3 * * ?","command":"true","shards":2,"failover":false}' -H 'If-Match: "0"'
expect 409 '.field == "version"'
req PUT /api/v1/jobs/report '{"cron":"0 0 3 * * ?","command":"true","shards":2,"failover":false,"version":0}'
expect 409
req GET /api/v1/jobs/report; expect 200 '.version == 1 and .job.cron == "0 0 2 * * ?"'
# saving what is stored writes nothing: same version, "changed": false; and a
# job written through the console knows when
req PUT /api/v1/jobs/report '{"cron":"0 0 2 * * ?","command":"true","shards":2,"failover":false}' -H 'If-Match: 1'
expect 200 '.version == 1 and .changed == false and .created == false'
req GET /api/v1/jobs/report; expect 200 '.version == 1 and (.modified | test("^20[0-9][0-9]-"))'
req GET /api/v1/jobs/nowhere; expect 200 '.version == 0 and (.modified | test("^20[0-9][0-9]-"))'
req DELETE /api/v1/jobs/report '' -H 'If-Match: 0'; expect 409

# ---- list: search, sort, paging
req GET '/api/v1/jobs?q=sett'; expect 200 '.total == 1 and .jobs[0].name == "settle" and .jobs[0].next_fire != null'
req GET '/api/v1/jobs?sort=-name&limit=2&page=1'; expect 200 '[.jobs[].name] == ["settle","report"]'
req GET '/api/v1/jobs?sort=-name&limit=2&page=2'; expect 200 '[.jobs[].name] == ["nowhere"]'
req GET '/api/v1/jobs?sort=level'; expect 200 '.jobs[-1].name == "settle"'
req GET '/api/v1/jobs?sort=colour'; expect 400 '.field == "sort"'
req GET '/api/v1/jobs?limit=0'; expect 400 '.field == "limit"'

# ---- agents and the shard map (the agent computes the same owners)
agent_led() { req GET /api/v1/agents; [ "$code" = 200 ] && echo "$body" | jq -e '.agents[0].id == "a1" and .agents[0].leader and .epoch > 0' >/dev/null; }
wait_for 30 agent_led || fail "agent a1 never shown as leader: $body"
expect 200 '.agents[0].labels == ["batch"] and .agents[0].ready and (.agents[0].capacity > 0)'
# a second agent (started once a1 leads, so the leader is known)
"$bin/shardcron-agent" --zk "$SC_TEST_ZK" --namespace "$ns" --id a2 --work-dir "$tmp/a2" \
  --mysql "$dburl" --mysql-password-file "$pwf" --http 127.0.0.1:0 --session-timeout-ms 2000 --labels batch,extra \
  --alert-interval-ms 300 >"$tmp/agent2.log" 2>&1 &
a2pid=$!
shards_spread() {
  req GET /api/v1/jobs/settle/shards
  echo "$body" | jq -e '.current and ([.items[] | select(.state == "idle" or .state == "running")] | length) == 4
    and ([.items[].agent] | unique) == ["a1","a2"]' >/dev/null
}
wait_for 30 shards_spread || fail "settle's items never spread over a1 and a2: $body"
shards=$body
# The console's map is what each agent itself runs (its /status "owned").
owned_match() {
  local a want got
  for a in a1 a2; do
    want=$(echo "$shards" | jq -c "[.items[] | select(.agent == \"$a\") | .item] | sort")
    got=$(curl -s "http://127.0.0.1:$(cat "$tmp/$a/http.port")/status" | jq -c '.owned.settle // [] | sort') || return 1
    [ "$want" = "$got" ] || return 1
  done
}
wait_for 30 owned_match || fail "agents' own items differ from the console's map: $shards"
req GET /api/v1/agents
expect 200 '(.agents | length) == 2 and ([.agents[] | select(.leader)] | length) == 1 and .agents[0].leader'
req GET /api/v1/jobs/settle; expect 200 '.owners == 2 and .eligible_agents == 2 and .job.timezone == "Asia/Shanghai"'

# ---- cron preview: the CLI's JSON
req GET '/api/v1/cron/preview?expr=0/5+*+*+*+*+%3F&tz=Asia/Shanghai&n=3&from=2017-08-30+17:22:15'
expect 200
cli=$("$bin/shardcronctl" cron preview '0/5 * * * * ?' --tz Asia/Shanghai -n 3 --from '2017-08-30 17:22:15' --format json)
[ "$(echo "$body" | jq -c .)" = "$(echo "$cli" | jq -c .)" ] || fail "preview differs from the CLI: $body vs $cli"
req GET '/api/v1/cron/preview?expr=0/5+*+*+*+*+X'; expect 400 '.valid == false and .position == 12'
req GET '/api/v1/cron/preview?expr=*+*+*+*+*+%3F&tz=No/Where'; expect 400 '.field == "timezone"'
req GET '/api/v1/cron/preview?expr=*+*+*+*+*+%3F&n=0'; expect 400 '.field == "n"'

# ---- trigger, enable/disable
req POST /api/v1/jobs/settle/trigger '{"param":"2024-01-01"}'; expect 202 '.trigger | test("^t-")'
req POST /api/v1/jobs/settle/trigger '{"colour":1}'; expect 400 '.field == "colour"'
req POST /api/v1/jobs/ghost/trigger ''; expect 404
req GET /api/v1/jobs/settle/trigger; expect 405
req POST /api/v1/jobs/settle/disable ''; expect 200 '.job.disabled == true'
req POST /api/v1/jobs/settle/enable ''; expect 200 '.job.disabled == false'

# ---- roles and CSRF
admin_csrf=$csrf
login viewer pw-viewer-12345
req GET /api/v1/jobs; expect 200
req PUT /api/v1/jobs/v1 '{"cron":"* * * * * ?","command":"true"}'; expect 403 '.field == "role"'
req POST /api/v1/jobs/settle/trigger ''; expect 403
req DELETE /api/v1/jobs/settle ''; expect 403
login operator pw-operator-12345
req POST /api/v1/jobs/settle/trigger ''; expect 202
req PUT /api/v1/jobs/op '{"cron":"* * * * * ?","command":"true"}'; expect 403 '.field == "role"'
req POST /api/v1/import '{"jobs":[]}'; expect 403
op_csrf=$csrf; csrf=""
req POST /api/v1/jobs/settle/trigger ''; expect 403 '.field == "X-CSRF-Token"'
csrf=$admin_csrf   # another session's token
req POST /api/v1/jobs/settle/trigger ''; expect 403 '.field == "X-CSRF-Token"'
csrf=$op_csrf
req POST /api/v1/logout ''; expect 200
req GET /api/v1/jobs; expect 401

# ---- history: rows written the way the agents' writer stores them
now=$(date -u +%s)
ins() { # id job item status fire_epoch agent
  client "$db" -e "SET time_zone = '+00:00'; INSERT INTO job_execution (execution_id, job, item, fire_time, trigger_type, agent, host, status, exit_code, started_at, finished_at, output_tail)
    VALUES ('$1', '$2', $3, FROM_UNIXTIME($5), 'cron', '$6', 'h1', '$4', $( [ $4 = succeeded ] && echo 0 || echo 1 ), FROM_UNIXTIME($5), FROM_UNIXTIME($5 + 2), 'line one\nlast line')"
}
# (the agents record their own runs too; these rows carry agent h-a1)
for i in $(seq 1 12); do ins "e-$i" settle $((i % 4)) succeeded $((now - 3600 + i * 10)) h-a1; done
ins e-fail settle 1 failed $((now - 60)) h-a1
ins e-miss report 0 missed $((now - 120)) ""
login viewer pw-viewer-12345
req GET '/api/v1/executions?limit=5'; expect 200 '(.executions | length) == 5 and .next_cursor != null'
cur=$(echo "$body" | jq -r .next_cursor); first=$(echo "$body" | jq -r '.executions[0].execution_id')
req GET "/api/v1/executions?limit=5&cursor=$cur"; expect 200 "(.executions | length) == 5 and ([.executions[].execution_id] | index(\"$first\") == null)"
req GET '/api/v1/executions?job=settle&status=failed'; expect 200 '[.executions[].execution_id] == ["e-fail"]'
req GET '/api/v1/executions?job=settle&item=1&agent=h-a1&limit=500'; expect 200 '(.executions | length) == 4 and all(.executions[]; .item == 1)'
req GET '/api/v1/executions?agent=h-a1&status=succeeded&limit=500'; expect 200 '(.executions | length) == 12'
real_runs() { req GET '/api/v1/executions?job=settle&status=succeeded&limit=500'; echo "$body" | jq -e '[.executions[] | select(.agent == "a1" or .agent == "a2")] | length > 0' >/dev/null; }
wait_for 30 real_runs || fail "no execution recorded by the agents: $body"
# the agents' runs carry their fence; rows written without one show null
echo "$body" | jq -e '[.executions[] | select(.agent == "a1" or .agent == "a2") | .fence | test("^[0-9]{12}[.][0-9]{12}[.][0-9]{4}$")] | all' >/dev/null ||
  fail "agent rows without a well-formed fence: $body"
req GET '/api/v1/executions?status=bogus'; expect 400 '.field == "status"'
req GET '/api/v1/executions?cursor=garbage'; expect 400 '.field == "cursor"'
req GET '/api/v1/executions/e-fail'; expect 200 '.status == "failed" and (.output_tail | test("last line")) and (.attempts | length) >= 1 and .fence == null'
req GET '/api/v1/executions/nope'; expect 404
req GET /api/v1/stats; expect 200 '.total > 14 and .failed >= 2'
req GET '/api/v1/latest?jobs=settle,report,nowhere'
expect 200 '.latest.settle.status != null and .latest.report.status == "missed" and (.latest.nowhere == null)'
req GET '/api/v1/latest?jobs=bad%20name'; expect 400 '.field == "jobs"'

# ---- rows behind the alert panels: a failure of an item the agents no longer run
# (settle has 4 shards: item 7 stays open), a failure cleared by a later success
# (report item 1), a run killed at its timeout (nowhere item 0, 30 s): panel 2
# says "killed after 30 s", not "0 seconds over", and lists item 0 as item 0
ins e-fail7 settle 7 failed $((now - 50)) h-a1
ins e-rfail report 1 failed $((now - 100)) h-a1
ins e-rok report 1 succeeded $((now - 90)) h-a1
client "$db" -e "SET time_zone = '+00:00'; INSERT INTO job_execution (execution_id, job, item, fire_time, trigger_type, agent, host, status, started_at, finished_at, error)
  VALUES ('e-slow', 'nowhere', 0, FROM_UNIXTIME($((now - 200))), 'cron', 'h-a1', 'h1', 'timeout', FROM_UNIXTIME($((now - 200))), FROM_UNIXTIME($((now - 170))), 'timed out')"

# ---- a business domain's level (/domains/<name>) reaches the panels through a watch
/usr/share/zookeeper/bin/zkCli.sh -server "$SC_TEST_ZK" create "/$ns/domains/finance" 3 >/dev/null 2>&1 \
  || fail "cannot create /$ns/domains/finance"
level_seen() { req GET /api/v1/alerts; echo "$body" | jq -e '[.abnormal_jobs[] | select(.job == "settle")][0].domain_level == 3' >/dev/null; }
wait_for 20 level_seen || fail "domain level never shown: $body"

# ---- alerts: failed + missed, no eligible agent, no failover, each panel present;
# one line per job and reason; e-fail (settle item 1) is cleared by the agents'
# own later successes of item 1, so only item 7 stays open
settle_open() {
  req GET /api/v1/alerts
  echo "$body" | jq -e '[.abnormal_jobs[] | select(.job == "settle" and .reason == "failed")] | length == 1 and .[0].items == [7] and .[0].items_open == 1 and .[0].fired == true' >/dev/null
}
wait_for 30 settle_open || fail "settle: item 1 not cleared by later runs, or item 7 not open: $body"
req GET /api/v1/alerts; expect 200
echo "$body" | jq -e '[.abnormal_jobs[] | select(.job == "report" and .reason == "missed")] | length == 1 and .[0].fired == false and .[0].items == [0]' >/dev/null || fail "missed not in panel 1: $body"
echo "$body" | jq -e '[.abnormal_jobs[] | select(.job == "report" and .reason == "failed")] | length == 0' >/dev/null || fail "a failure cleared by a later success is still shown: $body"
echo "$body" | jq -e '[.abnormal_jobs[] | select(.job == "nowhere" and .reason == "no eligible agent")] | length == 1' >/dev/null || fail "no eligible agent not in panel 1: $body"
echo "$body" | jq -e '[.abnormal_jobs[] | select(.job == "settle")][0].domain == "finance"' >/dev/null || fail "domain missing: $body"
echo "$body" | jq -e '[.no_failover[].job] | sort == ["nowhere","report"]' >/dev/null || fail "panel 3: $body"
echo "$body" | jq -e '.over_timeout | length == 1 and .[0].job == "nowhere" and .[0].reason == "timed out" and .[0].items == [0] and .[0].ran_s == 30 and .[0].seconds_over == null and .[0].running == false' >/dev/null || fail "panel 2: $body"
echo "$body" | jq -e '.abnormal_agents == []' >/dev/null || fail "panel 4 not empty: $body"
# the dashboard's count: items of panels 1-2 (a line without items counts one),
# jobs of panel 3, agents of panel 4 — at least settle 7, report 0 missed,
# nowhere's agent, nowhere's timeout, 2 without failover (the agents' own runs
# may add a miss recorded at a handoff until the item's next success)
echo "$body" | jq -e '.open.abnormal_jobs == ([.abnormal_jobs[] | .items_open // 1] | add) and .open.abnormal_jobs >= 3
  and .open.over_timeout == 1 and .open.no_failover == 2 and .open.abnormal_agents == 0
  and .open.total == .open.abnormal_jobs + 3 and .truncated == false' >/dev/null || fail "open counts: $body"

# ---- alert notifications (sent by the leader agent): a webhook receiver gets
# "open" for a failure and "resolve" once a later fire of the item succeeded; a
# dead receiver only counts
python3 "$SC_ROOT/tests/lib/webhook_receiver.py" "$tmp/hook.port" "$tmp/hook.log" &
hookpid=$!
wait_for 30 test -s "$tmp/hook.port" || fail "webhook receiver did not start"
hport=$(cat "$tmp/hook.port")
login admin pw-admin-12345
req PUT /api/v1/jobs/hooked "{\"cron\":\"0 0 5 * * ?\",\"command\":\"true\",\"shards\":2,\"alert\":{\"webhook\":\"http://127.0.0.1:$hport/hook\",\"on\":[\"failure\"]}}"
expect 201
req PUT /api/v1/jobs/deadhook '{"cron":"0 0 5 * * ?","command":"true","alert":{"webhook":"http://127.0.0.1:1/x"}}'
expect 201
ins e-hook-1 hooked 1 failed $((now - 30)) a1
ins e-dead-1 deadhook 0 failed $((now - 30)) a1
hook_has() { [ -f "$tmp/hook.log" ] && grep "\"event\":\"$1\"" "$tmp/hook.log" | grep -q "\"job\":\"hooked\".*\"item\":1"; }
wait_for 20 hook_has open || fail "no open notice: $(cat "$tmp/hook.log" 2>/dev/null)"
grep '"event":"open"' "$tmp/hook.log" | grep -q '"kind":"failed".*"execution_id":"e-hook-1"' || fail "open notice: $(cat "$tmp/hook.log")"
ins e-hook-2 hooked 1 succeeded $((now - 10)) a1
wait_for 20 hook_has resolve || fail "no resolve notice: $(cat "$tmp/hook.log")"
[ "$(grep -c '"job":"hooked"' "$tmp/hook.log")" = 2 ] || fail "duplicate notices: $(cat "$tmp/hook.log")"
n=$(client "$db" -N -e "SELECT COUNT(*) FROM alert_event WHERE job='hooked' AND kind='failed' AND item=1 AND notified_at IS NOT NULL AND resolved_at IS NOT NULL")
[ "$n" = 1 ] || fail "alert_event row for hooked: $n"
dead_counted() {
  local a
  for a in a1 a2; do
    curl -s "http://127.0.0.1:$(cat "$tmp/$a/http.port")/metrics" \
      | grep -q '^shardcron_agent_webhooks_total{result="failed"} [1-9]' && return 0
  done
  return 1
}
wait_for 20 dead_counted || fail "dead webhook not counted by the leader agent"
req GET /api/v1/health; expect 200

# ---- panel 2 live: an item that ignores SIGTERM runs past its 1 s timeout until
# the agent kills it 5 s later (the grace): one "running over" line with its
# seconds over, its item and its agent, from the agent's own record
req PUT /api/v1/jobs/stubborn '{"cron":"0/15 * * * * ?","command":"trap \"\" TERM; sleep 20","timeout_s":1,"labels":["batch"]}'
expect 201
running_over() {
  req GET /api/v1/alerts
  echo "$body" | jq -e '[.over_timeout[] | select(.job == "stubborn" and .reason == "running over")] | length == 1 and .[0].running == true and .[0].seconds_over >= 1 and .[0].timeout_s == 1 and .[0].items == [0] and (.[0].agents | length) == 1' >/dev/null
}
wait_for 45 running_over || fail "no running-over line for stubborn: $body"
for j in hooked deadhook stubborn; do req DELETE "/api/v1/jobs/$j" ''; expect 200; done
login viewer pw-viewer-12345

# ---- audit log: every write with user, before and after
n=$(client "$db" -N -e "SELECT COUNT(*) FROM audit_log WHERE object_name='report' AND action='update' AND username='admin' AND before_json LIKE '%0 0 1 * * ?%' AND after_json LIKE '%0 0 2 * * ?%'")
[ "$n" = 1 ] || fail "audit row for the report update: $n"
n=$(client "$db" -N -e "SELECT COUNT(*) FROM audit_log WHERE action='trigger' AND username='operator'")
[ "$n" = 1 ] || fail "audit row for the operator's trigger: $n"

# ---- users (admin): create, change role, list, delete; no secrets in the audit log
login viewer pw-viewer-12345
req GET /api/v1/users; expect 403
login admin pw-admin-12345
req PUT /api/v1/users/carol '{"role":"operator","password":"pw-carol-12345"}'; expect 200 '.role == "operator"'
req PUT /api/v1/users/carol '{"role":"boss"}'; expect 400 '.field == "role"'
req PUT /api/v1/users/carol '{"role":"viewer","password":"short"}'; expect 400 '.field == "password"'
req PUT /api/v1/users/nobody '{"role":"viewer"}'; expect 404
req PUT /api/v1/users/carol '{"role":"viewer"}'; expect 200
req GET /api/v1/users; expect 200 '[.users[] | select(.username == "carol")][0].role == "viewer"'
admin_jar=$jar admin_csrf=$csrf
login carol pw-carol-12345
req GET /api/v1/jobs; expect 200
jar=$admin_jar csrf=$admin_csrf
req DELETE /api/v1/users/carol ''; expect 200 '.deleted'
req DELETE /api/v1/users/admin ''; expect 400 '.field == "name"'
jar=$tmp/jar.carol; csrf=""
req GET /api/v1/jobs; expect 401   # her session ended with the account
n=$(client "$db" -N -e "SELECT COUNT(*) FROM audit_log WHERE object_type='user' AND object_name='carol' AND (after_json LIKE '%pw%' OR after_json LIKE '%argon%')")
[ "$n" = 0 ] || fail "a password or hash reached the audit log"
n=$(client "$db" -N -e "SELECT COUNT(*) FROM audit_log WHERE object_type='user' AND object_name='carol'")
[ "$n" = 3 ] || fail "audit rows for carol: $n, want 3"

# ---- export -> delete all -> import (dry run, then confirmed)
login admin pw-admin-12345
req GET /api/v1/export; expect 200 '(.jobs | length) == 3'
echo "$body" > "$tmp/export.json"
for j in nowhere report settle; do req DELETE "/api/v1/jobs/$j" ''; expect 200; done
req GET /api/v1/jobs; expect 200 '.total == 0'
req DELETE /api/v1/jobs/settle ''; expect 404
req POST /api/v1/import "$(cat "$tmp/export.json")"
expect 200 '.dry_run and (.created | length) == 3 and .deleted == [] and .updated == []'
req GET /api/v1/jobs; expect 200 '.total == 0'
req POST '/api/v1/import?confirm=1' "$(cat "$tmp/export.json")"
expect 200 '(.dry_run | not) and (.created | sort) == ["nowhere","report","settle"] and .failed == []'
req GET /api/v1/export; expect 200
[ "$(echo "$body" | jq -c .jobs)" = "$(jq -c .jobs "$tmp/export.json")" ] || fail "round trip differs"
req POST /api/v1/import '{"jobs":[{"name":"x","cron":"bad","command":"true"}]}'; expect 400 '.field | test("^jobs\\[0\\]\\.cron")'
req POST '/api/v1/import?confirm=1' "$(jq -c '{jobs: [.jobs[] | select(.name != "nowhere") | if .name == "report" then .retries = 3 else . end]}' "$tmp/export.json")"
expect 200 '.deleted == ["nowhere"] and .updated == ["report"] and .unchanged == ["settle"]'
req GET /api/v1/jobs/report; expect 200 '.job.retries == 3'
# an export names the jobs whose config it could not read ("invalid"); a dry run
# of that export, unchanged, deletes nothing and keeps them
/usr/share/zookeeper/bin/zkCli.sh -server "$SC_TEST_ZK" create "/$ns/jobs/broken" '{"name":"broken","cron":"nope"}' >/dev/null 2>&1 \
  || fail "cannot create /$ns/jobs/broken"
broken_seen() { req GET /api/v1/export; echo "$body" | jq -e '.invalid == ["broken"]' >/dev/null; }
wait_for 20 broken_seen || fail "the invalid job never reached the export: $body"
echo "$body" > "$tmp/export2.json"
req POST /api/v1/import "$(cat "$tmp/export2.json")"
expect 200 '.dry_run and .deleted == [] and .kept_invalid == ["broken"] and .created == [] and .updated == [] and (.unchanged | length) == 2'
req POST /api/v1/import '{"jobs":[],"invalid":[3]}'; expect 400 '.field == "invalid[0]"'

# ---- static files
req GET /; expect 200
curl -s -D - -o /dev/null "http://127.0.0.1:$port/vendor/a.js" | grep -qi '^content-type: text/javascript' || fail "content type of .js"
curl -s -D - -o /dev/null "http://127.0.0.1:$port/" | grep -qi '^cache-control: no-cache' || fail "cache header of /"
req GET /leak.js; expect 403
# only what the pages use: not node_modules, package files, dot files or other folders
for p in /package.json /node_modules/x/index.js /.env.js /sub/a.js /vendor/ /index.html.bak; do
  req GET "$p"; expect 404 '.field == "path"'
done
code=$(curl -s -o /dev/null -w '%{http_code}' --path-as-is "http://127.0.0.1:$port/../../etc/passwd"); [ "$code" = 404 ] || fail "traversal: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' --path-as-is "http://127.0.0.1:$port/sub/%2e%2e/%2e%2e/etc/passwd"); [ "$code" = 404 ] || fail "encoded traversal: $code"
req GET /sub; expect 404
req POST /index.html ''; expect 405

# ---- the web pages in headless Chromium (scripts/setup installs chromium and playwright-core)
pw=$SC_ROOT/console/web/node_modules/playwright-core
if [ -x /usr/bin/chromium ] && [ -d "$pw" ] && [ -f "$SC_ROOT/console/web/vendor/uPlot.iife.min.js" ]; then
  cp -r "$SC_ROOT/console/web/vendor/." "$tmp/web/vendor/"
  art=$SC_ROOT/build/test-artifacts/console
  mkdir -p "$art"
  CONSOLE_URL=http://127.0.0.1:$port ADMIN_PASSWORD=pw-admin-12345 PLAYWRIGHT_CORE=$pw ARTIFACTS=$art \
    SQL="$SC_ROOT/scripts/mysql client $SC_TEST_MYSQL_DIR $db" \
    node --test --test-reporter=spec "$SC_ROOT/tests/browser/console.test.mjs" || fail "browser tests"
  echo "browser screenshots: $art"
else
  echo "SKIP browser tests: run scripts/setup (needs /usr/bin/chromium, console/web/node_modules, vendor/)"
fi

# ---- connection cap: 40 kept-alive connections are served, the 41st gets 503
python3 - "$port" <<'PY' || fail "connection cap"
import socket, sys
port = int(sys.argv[1])
def ask(s):
    s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
    return s.recv(65536).split(b" ")[1]
socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(40)]
codes = [ask(s) for s in socks]
assert all(c == b"200" for c in codes), codes
extra = socket.create_connection(("127.0.0.1", port), timeout=10)
assert ask(extra) == b"503", "41st connection not refused"
for s in socks: s.close()
PY
cap_free() { req GET /api/v1/health; [ "$code" = 200 ]; }
wait_for 10 cap_free || fail "connections not released after close: $code"

# ---- session expiry: the console is frozen past its ZooKeeper session; jobs change
# meanwhile; on resume it builds a new session and reloads the whole view.
sid=$(grep -o 'connected (session 0x[0-9a-f]*' "$clog" | tail -1 | grep -o '0x[0-9a-f]*')
[ -n "$sid" ] || fail "no session id in the console log"
zkport=${SC_TEST_ZK##*:}
session_gone() {
  local out
  out=$(exec 3<>"/dev/tcp/127.0.0.1/$zkport" && printf cons >&3 && cat <&3) || return 1
  ! echo "$out" | grep -q "sid=$sid"
}
kill -STOP "$cpid"
echo '{"name":"made-while-away","cron":"0 0 4 * * ?","command":"true"}' |
  "$bin/shardcronctl" --zk "$SC_TEST_ZK" --namespace "$ns" job put - >/dev/null || fail "ctl job put"
"$bin/shardcronctl" --zk "$SC_TEST_ZK" --namespace "$ns" job delete settle >/dev/null || fail "ctl job delete"
wait_for 30 session_gone || { kill -CONT "$cpid"; fail "session $sid never expired"; }
kill -CONT "$cpid"
login admin pw-admin-12345 2>/dev/null || true
reloaded() {
  req GET /api/v1/jobs
  [ "$code" = 200 ] && echo "$body" | jq -e '[.jobs[].name] | (index("made-while-away") != null) and (index("settle") == null)' >/dev/null
}
wait_for 30 reloaded || fail "view not reloaded after session expiry: $code $body"
[ "$(grep -c 'loading the namespace view' "$clog")" -ge 2 ] || fail "no second load in the log"

# ---- clean shutdown
kill -TERM "$cpid"
stopped() { ! kill -0 "$cpid" 2>/dev/null; }
wait_for 15 stopped || fail "console did not stop on SIGTERM"
set +e; wait "$cpid"; rc=$?; set -e; cpid=""
[ $rc = 0 ] || fail "console exit status $rc"
grep -q 'ERROR: \(Address\|Leak\)Sanitizer\|runtime error' "$clog" && fail "sanitizer report in the console log"
kill -TERM "$apid" "$a2pid"; wait "$apid" "$a2pid" || true; apid="" a2pid=""
echo "console_api: ok"
