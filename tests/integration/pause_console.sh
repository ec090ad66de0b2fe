#!/usr/bin/env bash
# tests/integration/pause_console.sh: the console's pause window routes against
# real ZooKeeper and MariaDB (docs/pauses.md): a viewer may list but not write;
# an operator's POST with "for_s" makes a one-off window on the console's clock
# (what the "pause this domain" form sends), bad windows are 400 naming the
# field, a second POST of the same id is 409; shardcronctl sees what the console
# wrote and the console sees what shardcronctl wrote (watches); DELETE, then 404;
# every write is in the audit log under the operator's name.
set -euo pipefail
fail() { echo "FAIL: $*" >&2; [ -n "${clog:-}" ] && tail -20 "$clog" >&2; exit 1; }
bin=${SC_BIN:?}
pwf=$SC_TEST_MYSQL_PASSWORD_FILE
db=shardcron_pausecon_$$
ns=pausecon_$$
tmp=$(mktemp -d "$SC_TEST_TMP/pausecon.XXXX")
clog=$tmp/console.log
client() { "$SC_ROOT/scripts/mysql" client "$SC_TEST_MYSQL_DIR" "$@"; }
cpid=""
cleanup() {
  [ -n "$cpid" ] && kill "$cpid" 2>/dev/null || true
  client -e "DROP DATABASE IF EXISTS $db" || true
}
trap cleanup EXIT
. "$SC_ROOT/scripts/lib.sh"
wait_for() { sc_wait_until "$@"; }
ctl() { "$bin/shardcronctl" --zk "$SC_TEST_ZK" --namespace "$ns" "$@"; }

jar=$tmp/none
csrf=""
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
  req POST /api/v1/login "{\"username\":\"$1\",\"password\":\"$2\"}"
  expect 200
  csrf=$(echo "$body" | jq -r .csrf)
}

client -e "CREATE DATABASE $db"
client "$db" < "$SC_ROOT/sql/schema.sql"
dburl=${SC_TEST_MYSQL%/*}/$db
echo "pw-admin-12345" > "$tmp/admin.pw"; chmod 600 "$tmp/admin.pw"
for u in operator:operator viewer:viewer; do
  echo "pw-${u%%:*}-12345" > "$tmp/${u%%:*}.pw"; chmod 600 "$tmp/${u%%:*}.pw"
  "$bin/shardcronctl" user add "${u%%:*}" --role "${u##*:}" --password-file "$tmp/${u%%:*}.pw" \
    --mysql "$dburl" --mysql-password-file "$pwf" >/dev/null || fail "user add ${u%%:*}"
done
SHARDCRON_CONSOLE_PORT_FILE=$tmp/port "$bin/shardcron-console" --zk "$SC_TEST_ZK" --namespace "$ns" \
  --mysql "$dburl" --mysql-password-file "$pwf" --listen 127.0.0.1:0 --web "$SC_ROOT/console/web" \
  --admin-password-file "$tmp/admin.pw" >"$clog" 2>&1 &
cpid=$!
wait_for 20 test -s "$tmp/port" || fail "console did not start"
port=$(cat "$tmp/port")
health_ok() { req GET /api/v1/health; [ "$code" = 200 ]; }
wait_for 20 health_ok || fail "health never ok: $code $body"

req GET /api/v1/pauses; expect 401
login viewer pw-viewer-12345
req GET /api/v1/pauses; expect 200 '.pauses == []'
req POST /api/v1/pauses '{"scope":{"domain":"finance"},"for_s":1800,"reason":"db upgrade"}'; expect 403

login operator pw-operator-12345
now=$(date +%s)
req POST /api/v1/pauses '{"scope":{"domain":"finance"},"for_s":1800,"reason":"db upgrade"}'
expect 201 '(.id | startswith("domain-finance-")) and .pause.scope.domain == "finance" and .pause.action == "skip"'
id=$(echo "$body" | jq -r .id)
req POST /api/v1/pauses '{"scope":{"team":"x"},"for_s":60,"reason":"r"}'; expect 400 '.field == "scope.team"'
req POST /api/v1/pauses '{"scope":{"all":true},"for_s":60}'; expect 400 '.field == "reason"'
req POST /api/v1/pauses '{"id":"b","scope":{"all":true},"from":"@200","to":"@100","reason":"r"}'
expect 400 '.field == "to" and (.error | test("before it starts"))'
req POST /api/v1/pauses '{"id":"b","scope":{"all":true},"cron":"0 0 25 * * ?","duration_s":60,"reason":"r"}'
expect 400 '.field == "cron"'
req POST /api/v1/pauses "{\"id\":\"$id\",\"scope\":{\"all\":true},\"for_s\":60,\"reason\":\"r\"}"; expect 409 '.field == "id"'

listed() { req GET /api/v1/pauses; echo "$body" | jq -e "$1" >/dev/null; }
wait_for 10 listed "(.pauses | length) == 1 and .pauses[0].state == \"active\" and .pauses[0].active_until >= $now + 1790" \
  || fail "the console never listed its window active: $body"
ctl pause list --format json | jq -e ".[0].id == \"$id\" and .[0].state == \"active\"" >/dev/null \
  || fail "shardcronctl does not see the console's window"

# a window written elsewhere reaches the console through its watch
echo '{"id":"night","scope":{"labels":["batch"]},"cron":"0 30 23 * * ?","duration_s":3600,"action":"defer","reason":"close"}' \
  | ctl pause add - >/dev/null
wait_for 10 listed '(.pauses | map(.id)) == ["domain-finance-'"${id#domain-finance-}"'", "night"] and (.pauses[1].state | test("active|upcoming"))' \
  || fail "the console never saw the window written by shardcronctl: $body"

req DELETE "/api/v1/pauses/$id"; expect 200 '.deleted == true'
req DELETE "/api/v1/pauses/$id"; expect 404 '.field == "id"'
wait_for 10 listed '(.pauses | map(.id)) == ["night"]' || fail "the deleted window is still listed: $body"
[ "$(ctl pause list --format json | jq -r 'map(.id) | join(",")')" = night ] || fail "ctl still lists $id"

audit() { client "$db" -N -e "SELECT COUNT(*) FROM audit_log WHERE object_type='pause' AND object_name='$id' AND username='operator' AND $1"; }
audited() { [ "$(audit "action='create' AND after_json LIKE '%db upgrade%'")" = 1 ] && [ "$(audit "action='delete' AND before_json LIKE '%finance%'")" = 1 ]; }
wait_for 10 audited || fail "audit log: $(client "$db" -e "SELECT action, object_type, object_name, username FROM audit_log")"

# ---- the form and the page in headless Chromium (scripts/setup installs them)
pw=$SC_ROOT/console/web/node_modules/playwright-core
if [ -x /usr/bin/chromium ] && [ -d "$pw" ] && [ -f "$SC_ROOT/console/web/vendor/uPlot.iife.min.js" ]; then
  login admin pw-admin-12345
  req PUT /api/v1/jobs/wj '{"cron":"0 0 1 * * ?","command":"true","domain":"webdomain"}'; expect 201
  art=$SC_ROOT/build/test-artifacts/pause
  mkdir -p "$art"
  CONSOLE_URL=http://127.0.0.1:$port OPERATOR_PASSWORD=pw-operator-12345 PLAYWRIGHT_CORE=$pw ARTIFACTS=$art \
    node --test --test-reporter=spec "$SC_ROOT/tests/browser/pause.test.mjs" || fail "browser tests"
  n=$(client "$db" -N -e "SELECT COUNT(*) FROM audit_log WHERE object_type='pause' AND object_name LIKE 'domain-webdomain-%' AND username='operator'")
  [ "$n" = 2 ] || fail "the browser's create and delete are not both audited ($n rows)"
else
  echo "SKIP browser tests: run scripts/setup (needs /usr/bin/chromium, console/web/node_modules, vendor/)"
fi

kill -TERM "$cpid"; wait "$cpid" || fail "console exit status $?"; cpid=""
if grep -q "runtime error:\|ERROR: AddressSanitizer\|ERROR: LeakSanitizer" "$clog"; then fail "sanitizer report"; fi
echo "pause_console: ok"
