#!/usr/bin/env bash
# tests/integration/console_access.sh: the console's authentication and
# authorization against the real ZooKeeper and MariaDB of tests/run-integration:
#   - the route table's roles and CSRF, case by case (tests/data/console_access_cases.txt),
#     including redaction of job_param and alert.webhook for viewers and the
#     admin-only, audited export;
#   - user names checked at login as at creation ("viewer  " is refused, not viewer);
#   - login attempts counted on arrival: 25 parallel guesses, exactly 5 reach a
#     password check;
#   - an unknown name costs a password check like a known one;
#   - a role change, a password change and a delete end the user's sessions
#     (through the console at once; through shardcronctl or SQL within
#     user_check_ms);
#   - login CSRF (JSON only, Origin checked), Secure cookies behind HTTPS,
#     CSP base-uri/form-action, unknown Host refused (DNS rebinding), with the
#     default names and with --allowed-hosts;
#   - 40 parallel logins leave the history routes their workers: executions
#     answer while the logins run, and the logins beyond the auth queue get 503
#     with Retry-After at once.
# Waits poll observable state with deadlines.
set -euo pipefail
fail() { echo "FAIL: $*" >&2; [ -n "${clog:-}" ] && tail -20 "$clog" >&2; exit 1; }
bin=${SC_BIN:?}
pwf=$SC_TEST_MYSQL_PASSWORD_FILE
db=shardcron_access_$$
ns=access_$$
tmp=$(mktemp -d "$SC_TEST_TMP/access.XXXX")
clog=$tmp/console.log
cpid=""
client() { "$SC_ROOT/scripts/mysql" client "$SC_TEST_MYSQL_DIR" "$@"; }
cleanup() {
  [ -n "$cpid" ] && kill "$cpid" 2>/dev/null || true
  client -e "DROP DATABASE IF EXISTS $db" || true
}
trap cleanup EXIT
. "$SC_ROOT/scripts/lib.sh"
dburl=${SC_TEST_MYSQL%/*}/$db

# req AS METHOD PATH [BODY] [curl args...]: sets $code, $body and $hdrs. AS picks
# the cookie jar and CSRF token of a logged-in user ("none": neither; "NAME!":
# the jar without the token).
req() {
  local as=$1 m=$2 p=$3 d=${4:-}; shift 4 2>/dev/null || shift $#
  local who=${as%!}
  local args=(-s -o "$tmp/body" -D "$tmp/hdrs" -w '%{http_code}' -X "$m")
  if [ "$who" != none ]; then
    args+=(-b "$tmp/jar.$who")
    [ "$as" = "$who" ] && args+=(-H "X-CSRF-Token: $(cat "$tmp/csrf.$who")")
  fi
  [ -n "$d" ] && args+=(-H 'Content-Type: application/json' --data-binary "$d")
  code=$(curl "${args[@]}" "$@" "http://127.0.0.1:$port$p")
  body=$(cat "$tmp/body")
  hdrs=$(cat "$tmp/hdrs")
}
expect() { # expect CODE [JQ-FILTER]
  [ "$code" = "$1" ] || fail "want $1, got $code: $body"
  if [ -n "${2:-}" ]; then echo "$body" | jq -e "$2" >/dev/null || fail "$2 is false in: $body"; fi
}
login() { # login USER PASSWORD: keeps the jar and CSRF token under USER
  code=$(curl -s -o "$tmp/body" -w '%{http_code}' -c "$tmp/jar.$1" -H 'Content-Type: application/json' \
    --data-binary "{\"username\":\"$1\",\"password\":\"$2\"}" "http://127.0.0.1:$port/api/v1/login")
  body=$(cat "$tmp/body")
  [ "$code" = 200 ] || fail "login $1: $code $body"
  echo "$body" | jq -r .csrf > "$tmp/csrf.$1"
}
metric() { curl -s "http://127.0.0.1:$port/metrics" | sed -n "s/^$1 //p"; }

# ---- database, users (through shardcronctl: the same user store as the console)
client -e "CREATE DATABASE $db"
"$bin/shardcronctl" --mysql "$dburl" --mysql-password-file "$pwf" db migrate >/dev/null || fail "db migrate"
echo "pw-admin-12345" > "$tmp/admin.pw"; chmod 600 "$tmp/admin.pw"
for u in operator:operator viewer:viewer carol:operator timer:viewer t1:viewer t2:viewer t3:viewer t4:viewer t5:viewer; do
  echo "pw-${u%%:*}-12345" > "$tmp/${u%%:*}.pw"; chmod 600 "$tmp/${u%%:*}.pw"
  "$bin/shardcronctl" user add "${u%%:*}" --role "${u##*:}" --password-file "$tmp/${u%%:*}.pw" \
    --mysql "$dburl" --mysql-password-file "$pwf" >/dev/null || fail "user add ${u%%:*}"
done
set +e
err=$("$bin/shardcronctl" user add "viewer  " --role admin --password-file "$tmp/admin.pw" \
  --mysql "$dburl" --mysql-password-file "$pwf" 2>&1); rc=$?
set -e
[ $rc = 2 ] || fail "user add \"viewer  \": exit $rc, want 2"
echo "$err" | grep -q "name: 1-64 of" || fail "user add \"viewer  \": $err"

SHARDCRON_CONSOLE_PORT_FILE=$tmp/port "$bin/shardcron-console" --zk "$SC_TEST_ZK" --namespace "$ns" \
  --mysql "$dburl" --mysql-password-file "$pwf" --listen 127.0.0.1:0 \
  --admin-password-file "$tmp/admin.pw" --user-check-ms 300 >"$clog" 2>&1 &
cpid=$!
sc_wait_until 20 test -s "$tmp/port" || fail "console did not start"
port=$(cat "$tmp/port")
health_ok() { req none GET /api/v1/health; [ "$code" = 200 ]; }
sc_wait_until 20 health_ok || fail "health never ok: $code $body"

# ---- the route table, case by case
for u in admin operator viewer; do login $u "pw-$u-12345"; done
req admin PUT /api/v1/jobs/secretjob '{"cron":"0 0 3 * * ?","command":"echo run","job_param":"token=hunter2","alert":{"webhook":"http://127.0.0.1:9/hook?token=abc"},"env":{"DB_USER":"batch","DB_PASSWORD":{"secret":"db-password"}}}'
expect 201
sc_wait_until 20 health_ok || fail "health after the job put: $code $body"
n=0
while IFS=$'\t' read -r as m p want filter data; do
  case "$as" in ''|'#'*) continue ;; esac
  n=$((n + 1))
  req "$as" "$m" "$p" "$data"
  [ "$code" = "$want" ] || fail "case $n ($as $m $p): want $want, got $code: $body"
  if [ -n "$filter" ]; then
    echo "$body" | jq -e "$filter" >/dev/null || fail "case $n ($as $m $p): $filter is false in: $body"
  fi
done < "$SC_ROOT/tests/data/console_access_cases.txt"
[ $n -ge 40 ] || fail "only $n cases read"
echo "route table: $n cases ok"
audited() { [ "$(client "$db" -N -e "SELECT COUNT(*) FROM audit_log WHERE action = 'export' AND username = 'admin'")" = 1 ]; }
sc_wait_until 10 audited || fail "the export is not in the audit log"

# ---- user names: the creation rule at login; the session holds the stored name
for name in 'viewer  ' ' viewer' 'viewer\t' 'VIEWER  '; do
  req none POST /api/v1/login "{\"username\":\"$name\",\"password\":\"pw-viewer-12345\"}"
  expect 400 '.field == "username"'
done
req none POST /api/v1/login '{"username":"VIEWER","password":"pw-viewer-12345"}'; expect 401
req viewer GET /api/v1/session; expect 200 '.user == "viewer"'

# ---- login CSRF, cookies, headers, Host
req none POST /api/v1/login '' -H 'Content-Type: text/plain' --data-binary '{"username":"viewer","password":"pw-viewer-12345"}'
expect 415 '.field == "Content-Type"'
req none POST /api/v1/login '{"username":"viewer","password":"pw-viewer-12345"}' -H 'Origin: http://evil.example'
expect 403 '.field == "Origin"'
req none POST /api/v1/login '{"username":"viewer","password":"pw-viewer-12345"}' -H "Origin: http://127.0.0.1:$port"
expect 200 '.role == "viewer"'
echo "$hdrs" | grep -i '^set-cookie:' | grep -qv 'Secure' || fail "Secure cookie over plain HTTP: $hdrs"
req none POST /api/v1/login '{"username":"viewer","password":"pw-viewer-12345"}' -H 'X-Forwarded-Proto: https'
expect 200
echo "$hdrs" | grep -i '^set-cookie:' | grep -q '; Secure' || fail "no Secure cookie behind HTTPS: $hdrs"
for p in /api/v1/health /metrics /; do
  req none GET "$p" '' -H 'Host: rebind.evil.example'
  expect 421 '.field == "Host"'
  req none GET "$p" '' -H "Host: localhost:$port"
  [ "$code" != 421 ] || fail "Host localhost refused on $p"
done
curl -s -D - -o /dev/null "http://127.0.0.1:$port/" | grep -i '^content-security-policy:' |
  grep "base-uri 'none'" | grep -q "form-action 'self'" || fail "CSP lacks base-uri/form-action"

# ---- attempts counted on arrival: 25 parallel guesses, 5 reach the password check
refused0=$(metric 'shardcron_console_logins_total{result="refused"}')
seq 25 | xargs -P 25 -I{} curl -s -o /dev/null -w '%{http_code}\n' -H 'Content-Type: application/json' \
  --data-binary '{"username":"operator","password":"guess-{}-xxxx"}' "http://127.0.0.1:$port/api/v1/login" > "$tmp/codes"
n401=$(grep -c '^401$' "$tmp/codes" || true); n429=$(grep -c '^429$' "$tmp/codes" || true)
[ "$n401" = 5 ] && [ "$n429" = 20 ] || fail "25 parallel guesses: $n401 x 401, $n429 x 429 (want 5 and 20): $(sort "$tmp/codes" | uniq -c)"
refused1=$(metric 'shardcron_console_logins_total{result="refused"}')
[ $((refused1 - refused0)) = 5 ] || fail "$((refused1 - refused0)) password checks, want 5"

# ---- an unknown name costs a password check like a known one
t_login() { curl -s -o /dev/null -w '%{time_total}\n' -H 'Content-Type: application/json' \
  --data-binary "{\"username\":\"$1\",\"password\":\"wrong-password\"}" "http://127.0.0.1:$port/api/v1/login"; }
# Interleaved, five of each (each known name once: no throttle), medians
# compared: without the dummy check an unknown name answers in 1-2 ms against
# ~100-300 ms; the machine's load moves both alike.
: >"$tmp/tk"; : >"$tmp/tu"
for i in 1 2 3 4 5; do t_login "t$i" >>"$tmp/tk"; t_login "nobody$i" >>"$tmp/tu"; done
known=$(sort -n "$tmp/tk" | sed -n 3p)
unknown=$(sort -n "$tmp/tu" | sed -n 3p)
awk -v k="$known" -v u="$unknown" 'BEGIN { exit !(u >= k / 4) }' ||
  fail "unknown name answered in $unknown s, a known one in $known s: the time tells which exists"
echo "login time: known name $known s, unknown $unknown s"

# ---- a role change, a password change and a delete end the user's sessions
login carol pw-carol-12345
req carol GET /api/v1/session; expect 200 '.role == "operator"'
req admin PUT /api/v1/users/carol '{"role":"viewer"}'; expect 200 '.sessions_ended == 1'
req carol GET /api/v1/session; expect 401
login carol pw-carol-12345
req admin PUT /api/v1/users/carol '{"role":"viewer","password":"pw-carol-new-123"}'; expect 200 '.sessions_ended == 1'
req carol GET /api/v1/session; expect 401
login carol pw-carol-new-123
req admin DELETE /api/v1/users/carol ''; expect 200 '.sessions_ended == 1'
req carol GET /api/v1/session; expect 401
req admin PUT /api/v1/users/carol '{"role":"viewer","password":"pw-carol-12345"}'; expect 200 '.sessions_ended == 0'
# ... and so do changes made outside the console, within user_check_ms (300 ms here)
login timer pw-timer-12345
echo "pw-timer-new-123" > "$tmp/timer.pw"
"$bin/shardcronctl" user add timer --role viewer --password-file "$tmp/timer.pw" \
  --mysql "$dburl" --mysql-password-file "$pwf" >/dev/null || fail "user add timer"
ended() { req "$1" GET /api/v1/session; [ "$code" = 401 ]; }
sc_wait_until 10 ended timer || fail "a password changed by shardcronctl left the session: $code $body"
login timer pw-timer-new-123
client "$db" -e "DELETE FROM app_user WHERE username = 'timer'"
sc_wait_until 10 ended timer || fail "a user deleted in SQL kept the session: $code $body"
req viewer GET /api/v1/session; expect 200 '.user == "viewer"'

# ---- 40 parallel logins leave the history routes their workers
# Every login is a distinct unknown name (no throttle, each a full password
# check). Executions are asked for back to back while the logins run. Queued
# behind the logins (the old design: three shared workers), the first of them
# waits nearly until the last login is done; here each answers in a small part
# of that time, whatever this machine's speed and load.
t0=$(date +%s.%N)
seq 40 | xargs -P 40 -I{} curl -s -o /dev/null -w '%{http_code}\n' -H 'Content-Type: application/json' \
  --data-binary '{"username":"flood{}","password":"wrong-password"}' "http://127.0.0.1:$port/api/v1/login" > "$tmp/flood" &
flood=$!
: >"$tmp/during"
while kill -0 $flood 2>/dev/null; do
  curl -s -o /dev/null -w '%{time_total}\n' -b "$tmp/jar.viewer" "http://127.0.0.1:$port/api/v1/executions?limit=5" >>"$tmp/during"
done
wait $flood
span=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
nbusy=$(grep -c '^503$' "$tmp/flood" || true); n401=$(grep -c '^401$' "$tmp/flood" || true)
[ $((nbusy + n401)) = 40 ] || fail "40 logins: $(sort "$tmp/flood" | uniq -c)"
nreq=$(grep -c . "$tmp/during")
worst=$(sort -n "$tmp/during" | tail -1)
[ "$nreq" -ge 3 ] || fail "only $nreq executions requests answered in the $span s of the logins"
awk -v w="$worst" -v s="$span" 'BEGIN { exit !(w < s / 4) }' ||
  fail "executions took up to $worst s while the logins took $span s: they waited behind them"
[ "$nbusy" -ge 1 ] || fail "no login was refused as busy: the auth queue is unbounded"
echo "40 parallel logins ($span s): $n401 checked, $nbusy refused busy; $nreq executions, worst $worst s"

# ---- a configured allow-list replaces the default names
SHARDCRON_CONSOLE_PORT_FILE=$tmp/port2 "$bin/shardcron-console" --zk "$SC_TEST_ZK" --namespace "$ns" \
  --listen 127.0.0.1:0 --allowed-hosts 'ops.example.com, [::1]' >"$tmp/console2.log" 2>&1 &
c2=$!
sc_wait_until 20 test -s "$tmp/port2" || { kill $c2; fail "second console did not start"; }
p2=$(cat "$tmp/port2")
h2() { curl -s -o /dev/null -w '%{http_code}' -H "Host: $1" "http://127.0.0.1:$p2/api/v1/health"; }
for h in ops.example.com OPS.example.com:8443 '[::1]:80'; do
  [ "$(h2 "$h")" != 421 ] || { kill $c2; fail "Host $h refused by --allowed-hosts"; }
done
for h in localhost 127.0.0.1 ops.example.com.evil.example; do
  [ "$(h2 "$h")" = 421 ] || { kill $c2; fail "Host $h answered despite --allowed-hosts"; }
done
kill -TERM $c2; wait $c2 || fail "second console exit status $?"

# ---- clean shutdown
kill -TERM "$cpid"
stopped() { ! kill -0 "$cpid" 2>/dev/null; }
sc_wait_until 15 stopped || fail "console did not stop on SIGTERM"
set +e; wait "$cpid"; rc=$?; set -e; cpid=""
[ $rc = 0 ] || fail "console exit status $rc"
grep -q 'ERROR: \(Address\|Leak\)Sanitizer\|runtime error' "$clog" && fail "sanitizer report in the console log"
echo "console_access: ok"
