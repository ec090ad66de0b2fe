#!/usr/bin/env bash
# tests/integration/history_migrate.sh: `shardcronctl db migrate` end to end.
# The database scripts/mysql prepared (schema.sql applied) needs nothing; a fresh
# database is brought to the current version; a newer database is refused with
# exit status 1; a bad URL is invalid input (2); after migration 0004 a user
# name with trailing spaces no longer equals the name.
set -euo pipefail
ctl="$SC_BIN/shardcronctl"
pwf="$SC_TEST_MYSQL_PASSWORD_FILE"
base=${SC_TEST_MYSQL%/*}
db=shardcron_migsh_$$
client() { "$SC_ROOT/scripts/mysql" client "$SC_TEST_MYSQL_DIR" "$@"; }
cleanup() { client -e "DROP DATABASE IF EXISTS $db" || true; }
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
