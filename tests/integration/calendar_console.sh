#!/usr/bin/env bash
# tests/integration/calendar_console.sh: the console's calendar routes against
# the real ZooKeeper and MariaDB of tests/run-integration: roles (no session
# 401, a viewer's write 403), a bad calendar 400 naming the field and the
# value, PUT/GET/list, a job naming an unknown calendar refused (400, field
# "calendar"), the job preview and cron/preview?calendar= listing the skipped
# fires with their reasons, a calendar written by shardcronctl seen through
# the console's watch, DELETE refused (409) while a job names it.
set -euo pipefail
fail() { echo "FAIL: $*" >&2; [ -n "${clog:-}" ] && tail -20 "$clog" >&2; exit 1; }
bin=${SC_BIN:?}
pwf=$SC_TEST_MYSQL_PASSWORD_FILE
db=shardcron_calcon_$$
ns=calcon_$$
tmp=$(mktemp -d "$SC_TEST_TMP/calcon.XXXX")
clog=$tmp/console.log
client() { "$SC_ROOT/scripts/mysql" client "$SC_TEST_MYSQL_DIR" "$@"; }
cpid=""
cleanup() {
  [ -n "$cpid" ] && kill "$cpid" 2>/dev/null || true
  client -e "DROP DATABASE IF EXISTS $db" || true
}
trap cleanup EXIT
. "$SC_ROOT/scripts/lib.sh"
jar=$tmp/none; csrf=""
req() {
  local m=$1 p=$2 d=${3:-}
  local args=(-s -o "$tmp/body" -w '%{http_code}' -X "$m" -b "$jar" -c "$jar")
  [ -n "$csrf" ] && args+=(-H "X-CSRF-Token: $csrf")
  [ -n "$d" ] && args+=(-H 'Content-Type: application/json' --data-binary "$d")
  code=$(curl "${args[@]}" "http://127.0.0.1:$port$p")
  body=$(cat "$tmp/body")
}
expect() {
  [ "$code" = "$1" ] || fail "want $1, got $code: $body"
  if [ -n "${2:-}" ]; then echo "$body" | jq -e "$2" >/dev/null || fail "$2 is false in: $body"; fi
}
login() {
  jar=$tmp/jar.$1; csrf=""
  req POST /api/v1/login "{\"username\":\"$1\",\"password\":\"$2\"}"; expect 200
  csrf=$(echo "$body" | jq -r .csrf)
}
ctl() { "$bin/shardcronctl" --zk "$SC_TEST_ZK" --namespace "$ns" "$@"; }

client -e "CREATE DATABASE $db"
client "$db" < "$SC_ROOT/sql/schema.sql"
dburl=${SC_TEST_MYSQL%/*}/$db
echo "pw-admin-12345" > "$tmp/admin.pw"; echo "pw-viewer-12345" > "$tmp/viewer.pw"
chmod 600 "$tmp"/*.pw
"$bin/shardcronctl" user add viewer --role viewer --password-file "$tmp/viewer.pw" \
  --mysql "$dburl" --mysql-password-file "$pwf" >/dev/null || fail "user add"
SHARDCRON_CONSOLE_PORT_FILE=$tmp/port "$bin/shardcron-console" --zk "$SC_TEST_ZK" --namespace "$ns" \
  --mysql "$dburl" --mysql-password-file "$pwf" --listen 127.0.0.1:0 --web "$SC_ROOT/console/web" \
  --admin-password-file "$tmp/admin.pw" >"$clog" 2>&1 &
cpid=$!
sc_wait_until 20 test -s "$tmp/port" || fail "console did not start"
port=$(cat "$tmp/port")
health_ok() { req GET /api/v1/health; [ "$code" = 200 ]; }
sc_wait_until 20 health_ok || fail "health never ok: $code $body"

CN='{"timezone":"Asia/Shanghai","weekend":["SAT","SUN"],"holidays":["2026-10-01","2026-10-02","2026-10-03","2026-10-04","2026-10-05","2026-10-06","2026-10-07"],"workdays":["2026-09-27","2026-10-10"]}'
req GET /api/v1/calendars; expect 401
login viewer pw-viewer-12345
req PUT /api/v1/calendars/cn "$CN"; expect 403
login admin pw-admin-12345
req PUT /api/v1/calendars/cn '{"holidays":["2026-10-01","2026-02-30"]}'
expect 400 '.field == "holidays[1]" and (.error | test("\"2026-02-30\" is not a date"))'
req PUT /api/v1/calendars/cn '{"timezone":"Nowhere/Land"}'; expect 400 '.field == "timezone"'
req PUT /api/v1/calendars/cn '{"name":"other"}'; expect 400 '.field == "name"'
req PUT /api/v1/calendars/bad%2Fname '{}'; expect 400 '.field == "name"'
req PUT /api/v1/calendars/cn "$CN"; expect 201 '.created == true and .calendar.holidays[0] == "2026-10-01"'
cached() { req GET /api/v1/calendars/cn; [ "$code" = 200 ]; }
sc_wait_until 10 cached || fail "GET after PUT: $code $body"
expect 200 '.name == "cn" and .workdays == ["2026-09-27","2026-10-10"]'
req GET /api/v1/calendars/none; expect 404

# a calendar written by shardcronctl reaches the console through its watch
echo '{"name":"plain","timezone":"UTC"}' | ctl calendar put - >/dev/null || fail "ctl calendar put"
listed() { req GET /api/v1/calendars; echo "$body" | jq -e 'map(.name) == ["cn","plain"]' >/dev/null; }
sc_wait_until 10 listed || fail "the console did not see the calendar: $body"

# jobs
req PUT /api/v1/jobs/settle '{"cron":"0 0 9 * * ?","timezone":"Asia/Shanghai","command":"true","calendar":"nope"}'
expect 400 '.field == "calendar" and (.error | test("nope"))'
req PUT /api/v1/jobs/settle '{"cron":"0 0 9 * * ?","timezone":"Asia/Shanghai","command":"true","calendar":"cn"}'
expect 201
job_seen() { req GET "/api/v1/jobs/settle/preview?n=3&from=2026-09-30%2000:00:00"; [ "$code" = 200 ]; }
sc_wait_until 10 job_seen || fail "job preview: $code $body"
expect 200 '.next == ["2026-09-30 09:00:00","2026-10-08 09:00:00","2026-10-09 09:00:00"] and .calendar == "cn" and .skipped[0].reason == "2026-10-01 is a holiday in cn" and (.skipped | length) == 3'
req GET "/api/v1/cron/preview?expr=0%200%209%20*%20*%20?&tz=Asia/Shanghai&n=1&from=2026-09-30%2010:00:00&calendar=cn&calendar_shift=next"
expect 200 '.next == ["2026-10-08 09:00:00"] and (.skipped[0].reason | test("moved to 2026-10-08 09:00:00"))'
req GET "/api/v1/cron/preview?expr=0%200%209%20*%20*%20?&calendar=nope"; expect 400 '.field == "calendar"'
req GET "/api/v1/cron/preview?expr=0%200%209%20*%20*%20?&calendar=cn&calendar_rule=someday"; expect 400 '.field == "calendar_rule"'

# ---- the pages in headless Chromium (scripts/setup installs chromium and playwright-core)
pw=$SC_ROOT/console/web/node_modules/playwright-core
if [ -x /usr/bin/chromium ] && [ -d "$pw" ] && [ -f "$SC_ROOT/console/web/vendor/uPlot.iife.min.js" ]; then
  art=$SC_ROOT/build/test-artifacts/calendar
  mkdir -p "$art"
  CONSOLE_URL=http://127.0.0.1:$port ADMIN_PASSWORD=pw-admin-12345 PLAYWRIGHT_CORE=$pw ARTIFACTS=$art \
    node --test --test-reporter=spec "$SC_ROOT/tests/browser/calendar.test.mjs" || fail "browser tests"
else
  echo "SKIP browser tests: run scripts/setup (needs /usr/bin/chromium, console/web/node_modules, vendor/)"
fi

# delete: refused while named, then allowed
req DELETE /api/v1/calendars/cn; expect 409 '.error | test("in use by job settle")'
req DELETE /api/v1/calendars/plain; expect 200 '.deleted == true'
gone() { req GET /api/v1/calendars/plain; [ "$code" = 404 ]; }
sc_wait_until 10 gone || fail "deleted calendar still served"
ctl calendar get plain >/dev/null 2>&1 && fail "plain still in ZooKeeper"
audit=$(client "$db" -N -e "SELECT COUNT(*) FROM audit_log WHERE object_type='calendar'")
[ "$audit" -ge 2 ] || fail "calendar writes not audited ($audit rows)"
kill -TERM "$cpid"; wait "$cpid" || fail "console exit $?"; cpid=""
grep -q "ERROR: AddressSanitizer\|runtime error" "$clog" && fail "sanitizer report in the console log"
echo "calendar_console: ok"
