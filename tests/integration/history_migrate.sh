#!/usr/bin/env bash
# tests/integration/history_migrate.sh: `shardcronctl db migrate` end to end.
# The database scripts/mysql prepared (schema.sql applied) needs nothing; a fresh
# database is brought to the current version; a newer database is refused with
# exit status 1; a bad URL is invalid input (2); after migration 0004 a user
# name with trailing spaces no longer equals the name; a database at version 4
# (built from the 0001-0004 files) migrates to the current version keeping its
# rows and gains the workflow tables, whose output column keeps a 65,536-byte
# value whole, and the `paused` status (0007).
set -euo pipefail
ctl="$SC_BIN/shardcronctl"
pwf="$SC_TEST_MYSQL_PASSWORD_FILE"
base=${SC_TEST_MYSQL%/*}
db=shardcron_migsh_$$
db4=shardcron_migsh4_$$
client() { "$SC_ROOT/scripts/mysql" client "$SC_TEST_MYSQL_DIR" "$@"; }
cleanup() { client -e "DROP DATABASE IF EXISTS $db; DROP DATABASE IF EXISTS $db4" || true; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

out=$("$ctl" --mysql "$SC_TEST_MYSQL" --mysql-password-file "$pwf" db migrate --format json)
echo "$out" | grep -q '"ok":true,"from":\([0-9]*\),"to":\1' || fail "schema.sql database not a no-op: $out"

client -e "CREATE DATABASE $db"
out=$("$ctl" --mysql "$base/$db" --mysql-password-file "$pwf" db migrate)
echo "$out" | grep -q "migrated from version 0 to" || fail "fresh migrate: $out"
out=$("$ctl" --mysql "$base/$db" --mysql-password-file "$pwf" db migrate)
echo "$out" | grep -q "nothing to do" || fail "re-run: $out"

# Version 4: user names compare byte for byte (no PAD SPACE): "admin  " is not admin.
client "$db" -e "INSERT INTO app_user (username, pw_hash, role) VALUES ('admin', 'x', 'admin')"
n=$(client "$db" -N -e "SELECT COUNT(*) FROM app_user WHERE username = 'admin  '")
[ "$n" = 0 ] || fail "a padded name matches admin after migrate ($n rows)"
n=$(client "$db" -N -e "SELECT COUNT(*) FROM app_user WHERE username = 'admin'")
[ "$n" = 1 ] || fail "the exact name does not match ($n rows)"

# Version 4 -> 5: a database an older shardcron made, with history in it.
client -e "CREATE DATABASE $db4"
for f in "$SC_ROOT"/sql/migrations/000[1-4]_*.sql; do client "$db4" < "$f"; done
client "$db4" -e "INSERT INTO schema_version (version) VALUES (1), (2), (3), (4);
  INSERT INTO job_execution (execution_id, job, item, fire_time, trigger_type, status)
  VALUES ('v4-1', 'old', 0, '2026-01-01 00:00:00', 'cron', 'succeeded')"
out=$("$ctl" --mysql "$base/$db4" --mysql-password-file "$pwf" db migrate)
echo "$out" | grep -Eq "migrated from version 4 to [5-9]" || fail "4 -> 5: $out"
n=$(client "$db4" -N -e "SELECT COUNT(*) FROM job_execution WHERE execution_id = 'v4-1'")
[ "$n" = 1 ] || fail "the version 4 execution row is gone after migrating ($n rows)"
n=$(client "$db4" -N -e "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '$db4'
  AND TABLE_NAME IN ('workflow_run', 'task_instance', 'task_xcom')")
[ "$n" = 3 ] || fail "workflow tables after 4 -> 5: $n of 3"
# 65,536 bytes: one more than a BLOB holds (Airflow's XCom was cut there).
n=$(client "$db4" -N -e "INSERT INTO task_xcom (run_id, task, item, attempt, output, seq)
  VALUES ('r', 't', 0, 1, CONCAT('\"', REPEAT('x', 65534), '\"'), 1);
  SELECT LENGTH(output) FROM task_xcom WHERE run_id = 'r'")
[ "$n" = 65536 ] || fail "a 65,536-byte output is stored as $n bytes"
out=$("$ctl" --mysql "$base/$db4" --mysql-password-file "$pwf" db migrate)
echo "$out" | grep -q "nothing to do" || fail "re-run after 4 -> 5: $out"
# Version 7: a fire inside a pause window is recorded `paused`, in the status
# ENUM and in the trace, and the rows already there keep their status.
n=$(client "$db4" -N -e "INSERT INTO job_execution (execution_id, job, item, fire_time, trigger_type, status)
  VALUES ('v7-1', 'old', 0, '2026-01-01 00:00:01', 'cron', 'paused');
  INSERT INTO job_status_trace (execution_id, state, at) VALUES ('v7-1', 'paused', '2026-01-01 00:00:01');
  SELECT GROUP_CONCAT(status ORDER BY execution_id) FROM job_execution")
[ "$n" = "succeeded,paused" ] || fail "statuses after migrating to 7: $n"

client "$db" -e "INSERT INTO schema_version (version) VALUES (1000)"
set +e
err=$("$ctl" --mysql "$base/$db" --mysql-password-file "$pwf" db migrate 2>&1 >/dev/null)
rc=$?
set -e
[ $rc = 1 ] || fail "downgrade exit status $rc, want 1"
echo "$err" | grep -q "newer than this binary" || fail "downgrade message: $err"

set +e
"$ctl" --mysql "mysql://nohost" --mysql-password-file "$pwf" db migrate 2>/dev/null
rc=$?
set -e
[ $rc = 2 ] || fail "bad URL exit status $rc, want 2"
echo "history_migrate: ok"
