# tests/lib/it.sh: shared set-up for integration shell tests that run real
# agents against a scratch database (sourced, not run).
#
#   it_setup TAG     -> $db (scratch database, migrated), $ns, $dir, $url; ctl, sql
#   it_agent ID ...  start an agent (extra flags after the id); pid kept for cleanup
#   it_stop_agents   SIGTERM every agent and fail unless each exits 0
#   it_sanitizers    fail when an agent log holds a sanitizer report
# Everything started is stopped, and the database dropped, on exit.
set -euo pipefail
fail() { echo "FAIL: $*" >&2; exit 1; }
. "$SC_ROOT/scripts/lib.sh"
it_pids=()

it_cleanup() {
  for p in "${it_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${it_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  "$SC_ROOT/scripts/mysql" client "$SC_TEST_MYSQL_DIR" -e "DROP DATABASE IF EXISTS $db" || true
}

it_setup() {
  db=shardcron_$1_$$
  ns=it_$1_$$
  dir=$(mktemp -d "$SC_TEST_TMP/$1.XXXX")
  url=${SC_TEST_MYSQL%/*}/$db
  trap it_cleanup EXIT
  "$SC_ROOT/scripts/mysql" client "$SC_TEST_MYSQL_DIR" -e "CREATE DATABASE $db"
  ctl db migrate >/dev/null || fail "db migrate"
}

sql() { "$SC_ROOT/scripts/mysql" client "$SC_TEST_MYSQL_DIR" -N "$db" -e "$1"; }

ctl() { "$SC_BIN/shardcronctl" --zk "$SC_TEST_ZK" --namespace "$ns" --mysql "$url" \
          --mysql-password-file "$SC_TEST_MYSQL_PASSWORD_FILE" "$@"; }

it_agent() {
  local id=$1; shift
  mkdir -p "$dir/$id"
  "$SC_BIN/shardcron-agent" --zk "$SC_TEST_ZK" --namespace "$ns" --id "$id" --work-dir "$dir/$id" \
    --http 127.0.0.1:0 --mysql "$url" --mysql-password-file "$SC_TEST_MYSQL_PASSWORD_FILE" \
    "$@" 2>"$dir/$id/log" &
  it_pids+=($!)
}

it_stop_agents() {
  for p in "${it_pids[@]}"; do kill -TERM "$p"; done
  for p in "${it_pids[@]}"; do wait "$p" || fail "agent exited with $?"; done
  it_pids=()
}

it_sanitizers() {
  if grep -l "runtime error:\|ERROR: AddressSanitizer\|ERROR: LeakSanitizer" "$dir"/*/log; then
    fail "sanitizer report"
  fi
}
