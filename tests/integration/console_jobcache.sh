#!/usr/bin/env bash
# tests/integration/console_jobcache.sh: the console follows /jobs through the job
# change log, like the agents (registry/jobcache.c), against the real ZooKeeper and
# MariaDB of tests/run-integration: with 1,000 jobs it holds no watch on any job node
# (counted by the server, four-letter word wchp), only a fixed few; and a rewrite, a
# create and a delete made by another process (shardcronctl) reach its API within a
# deadline. CONSOLE_JOBCACHE_JOBS changes the number of jobs.
set -euo pipefail
fail() { echo "FAIL: $*" >&2; [ -n "${clog:-}" ] && tail -20 "$clog" >&2; exit 1; }
bin=${SC_BIN:?}
njobs=${CONSOLE_JOBCACHE_JOBS:-1000}
pwf=$SC_TEST_MYSQL_PASSWORD_FILE
base=${SC_TEST_MYSQL%/*}
db=shardcron_cjc_$$
ns=cjc_$$
tmp=$(mktemp -d "$SC_TEST_TMP/cjc.XXXX")
clog=$tmp/console.log
client() { "$SC_ROOT/scripts/mysql" client "$SC_TEST_MYSQL_DIR" "$@"; }
cpid=""
cleanup() {
  [ -n "$cpid" ] && kill "$cpid" 2>/dev/null || true
  client -e "DROP DATABASE IF EXISTS $db" || true
}
trap cleanup EXIT
. "$SC_ROOT/scripts/lib.sh"
ctl() { "$bin/shardcronctl" --zk "$SC_TEST_ZK" --namespace "$ns" "$@"; }
zkport=${SC_TEST_ZK##*:}
fourlw() { (exec 3<>/dev/tcp/127.0.0.1/"$zkport"; printf '%s' "$1" >&3; timeout 5 cat <&3); }

# ---- the jobs, written the way every writer does (one change-log entry each)
{
  printf '{"jobs":['
  for i in $(seq 0 $((njobs - 1))); do
    [ "$i" -gt 0 ] && printf ','
    printf '{"name":"j%d","cron":"0 0 1 * * ?","command":"true","shards":2}' "$i"
  done
  printf ']}'
} > "$tmp/jobs.json"
ctl import "$tmp/jobs.json" --confirm >/dev/null || fail "import of $njobs jobs"

# ---- the console
client -e "CREATE DATABASE $db"
client "$db" < "$SC_ROOT/sql/schema.sql"
echo "pw-admin-12345" > "$tmp/admin.pw"; chmod 600 "$tmp/admin.pw"
SHARDCRON_CONSOLE_PORT_FILE=$tmp/port "$bin/shardcron-console" --zk "$SC_TEST_ZK" --namespace "$ns" \
  --mysql "$base/$db" --mysql-password-file "$pwf" --listen 127.0.0.1:0 \
  --admin-password-file "$tmp/admin.pw" >"$clog" 2>&1 &
cpid=$!
sc_wait_until 20 test -s "$tmp/port" || fail "console did not start"
port=$(cat "$tmp/port")
jar=$tmp/jar
api() { # api PATH: GET with the admin's session; sets $code and $body
  code=$(curl -s -o "$tmp/body" -w '%{http_code}' -b "$jar" -c "$jar" "http://127.0.0.1:$port$1")
  body=$(cat "$tmp/body")
}
all_loaded() { api /api/v1/health; [ "$code" = 200 ] && echo "$body" | jq -e ".jobs == $njobs" >/dev/null; }
sc_wait_until 60 all_loaded || fail "the console never held $njobs jobs: $code $body"
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -b "$jar" -c "$jar" -H 'Content-Type: application/json' \
  --data-binary '{"username":"admin","password":"pw-admin-12345"}' "http://127.0.0.1:$port/api/v1/login")
[ "$code" = 200 ] || fail "login: $code $(cat "$tmp/body")"

# ---- watches, as the server counts them (no other client is connected now):
# wchp lists the data watches by path (a watch per job would be one per job
# node); mntr's zk_watch_count counts data and children watches
fourlw wchp > "$tmp/wchp"
fourlw mntr > "$tmp/mntr"
total=$(sed -n 's/^zk_watch_count[[:space:]]*//p' "$tmp/mntr")
[ -n "$total" ] || fail "mntr gave no zk_watch_count (four-letter words off?): $(head -3 "$tmp/mntr")"
per_job=$(grep -c "^/$ns/jobs/[^/]*$" "$tmp/wchp" || true)
echo "   watches with $njobs jobs and the console connected: $total in all, $per_job on job nodes"
[ "$per_job" = 0 ] || fail "the console watches $per_job job nodes"
[ "$total" -le 10 ] || fail "$total watches for $njobs jobs: $(head -20 "$tmp/wchp")"

# ---- another writer's rewrite, create and delete reach the console
printf '{"name":"j7","cron":"0 30 2 * * ?","command":"true","shards":3}' > "$tmp/j7.json"
ctl job put "$tmp/j7.json" >/dev/null || fail "job put j7"
rewritten() { api /api/v1/jobs/j7; [ "$code" = 200 ] && echo "$body" | jq -e '.job.cron == "0 30 2 * * ?" and .job.shards == 3' >/dev/null; }
sc_wait_until 10 rewritten || fail "the rewrite of j7 never reached the console: $code $body"
printf '{"name":"fresh","cron":"@daily","command":"true"}' > "$tmp/fresh.json"
ctl job put "$tmp/fresh.json" >/dev/null || fail "job put fresh"
created() { api /api/v1/jobs/fresh; [ "$code" = 200 ]; }
sc_wait_until 10 created || fail "the new job never reached the console: $code $body"
ctl job delete j8 >/dev/null || fail "job delete j8"
deleted() { api /api/v1/jobs/j8; [ "$code" = 404 ]; }
sc_wait_until 10 deleted || fail "the delete of j8 never reached the console: $code $body"
api /api/v1/health
echo "$body" | jq -e ".jobs == $njobs" >/dev/null || fail "job count after create+delete: $body"

kill -TERM "$cpid"; wait "$cpid" || fail "console exit status $?"
cpid=""
grep -q "ERROR: AddressSanitizer\|runtime error:\|LeakSanitizer" "$clog" && fail "sanitizer report"
echo ok
