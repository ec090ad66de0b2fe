#!/usr/bin/env bash
# tests/integration/agent_history.sh: real agents write every execution to a
# real MariaDB: a job on 2 items over 2 agents lands as rows with the final
# status (a failing item as failed, with its exit code and output tail), and the
# leader's housekeeping deletes an execution older than the retention period.
set -euo pipefail
fail() { echo "FAIL: $*" >&2; exit 1; }
. "$SC_ROOT/scripts/lib.sh"
db=shardcron_ah_$$
ns=it_ah_$$
dir=$(mktemp -d "$SC_TEST_TMP/ah.XXXX")
url=${SC_TEST_MYSQL%/*}/$db
sql() { "$SC_ROOT/scripts/mysql" client "$SC_TEST_MYSQL_DIR" -N "$db" -e "$1"; }
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  "$SC_ROOT/scripts/mysql" client "$SC_TEST_MYSQL_DIR" -e "DROP DATABASE IF EXISTS $db" || true
}
trap cleanup EXIT
"$SC_ROOT/scripts/mysql" client "$SC_TEST_MYSQL_DIR" -e "CREATE DATABASE $db"
ctl() { "$SC_BIN/shardcronctl" --zk "$SC_TEST_ZK" --namespace "$ns" --mysql "$url" \
          --mysql-password-file "$SC_TEST_MYSQL_PASSWORD_FILE" "$@"; }
ctl db migrate >/dev/null || fail "db migrate"
# An execution from 40 days ago: retention (30 days) must delete it.
sql "INSERT INTO job_execution (execution_id, job, item, fire_time, trigger_type, attempt, status)
     VALUES ('old-1', 'tick', 0, NOW(3) - INTERVAL 40 DAY, 'cron', 1, 'succeeded')"
for i in 1 2; do
  mkdir -p "$dir/a$i"
  "$SC_BIN/shardcron-agent" --zk "$SC_TEST_ZK" --namespace "$ns" --id "ah$i" --work-dir "$dir/a$i" \
    --http 127.0.0.1:0 --session-timeout-ms 2000 --mysql "$url" \
    --mysql-password-file "$SC_TEST_MYSQL_PASSWORD_FILE" 2>"$dir/a$i/log" &
  pids+=($!)
done
cat > "$dir/job.json" <<JOB
{"name":"tick","cron":"* * * * * ?","shards":2,
 "command":"echo out-\$SHARDCRON_SHARD_ITEM; [ \$SHARDCRON_SHARD_ITEM = 0 ] || exit 7"}
JOB
ctl job put "$dir/job.json" >/dev/null
have_rows() {
  [ "$(sql "SELECT COUNT(*) FROM job_execution WHERE job='tick' AND item=0 AND status='succeeded'")" -ge 3 ] &&
  [ "$(sql "SELECT COUNT(*) FROM job_execution WHERE job='tick' AND item=1 AND status='failed'")" -ge 3 ]
}
sc_wait_until 30 have_rows || fail "executions did not reach MariaDB: $(sql 'SELECT item,status,COUNT(*) FROM job_execution GROUP BY item,status')"
row=$(sql "SELECT exit_code, CAST(output_tail AS CHAR), agent FROM job_execution WHERE item=1 AND status='failed' LIMIT 1")
echo "$row" | grep -q "^7	out-1" || fail "failed row: $row"
# No (item, fire time) twice.
dups=$(sql "SELECT COUNT(*) FROM (SELECT item, fire_time FROM job_execution WHERE job='tick' AND trigger_type='cron' GROUP BY item, fire_time HAVING COUNT(*) > 1) d")
[ "$dups" = 0 ] || fail "$dups duplicated fires"
# The leader's housekeeping removes the old execution.
old_gone() { [ "$(sql "SELECT COUNT(*) FROM job_execution WHERE execution_id='old-1'")" = 0 ]; }
sc_wait_until 30 old_gone || fail "retention did not delete the 40-day-old execution"
for p in "${pids[@]}"; do kill -TERM "$p"; done
for p in "${pids[@]}"; do wait "$p" || fail "agent exited with $?"; done
pids=()
grep -l "runtime error:\|ERROR: AddressSanitizer\|ERROR: LeakSanitizer" "$dir"/a*/log && fail "sanitizer report"
echo ok
