#!/usr/bin/env bash
# tests/integration/java_sharded.sh: the example Java job, sharded over two real
# agents through their warm JVM workers; both items succeed on different agents
# and land in MariaDB with the context the job saw (item, total, parameter).
set -euo pipefail
fail() { echo "FAIL: $*" >&2; exit 1; }
. "$SC_ROOT/scripts/lib.sh"
jar=$SC_ROOT/build/java/shardcron-java.jar
[ -f "$jar" ] || fail "$jar not built (make builds it when a JDK is present)"
db=shardcron_java_$$
ns=it_java_$$
dir=$(mktemp -d "$SC_TEST_TMP/java.XXXX")
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
for i in 1 2; do
  mkdir -p "$dir/j$i"
  "$SC_BIN/shardcron-agent" --zk "$SC_TEST_ZK" --namespace "$ns" --id "j$i" --work-dir "$dir/j$i" \
    --http 127.0.0.1:0 --session-timeout-ms 4000 --java-jar "$jar" --mysql "$url" \
    --mysql-password-file "$SC_TEST_MYSQL_PASSWORD_FILE" 2>"$dir/j$i/log" &
  pids+=($!)
done
cat > "$dir/job.json" <<JOB
{"name":"jsettle","cron":"0/2 * * * * ?","shards":2,"shard_params":"0=east,1=west","job_param":"ok",
 "type":"java","java":{"class":"io.shardcron.examples.Example","jvm_opts":"-Xmx64m"}}
JOB
ctl job put "$dir/job.json" >/dev/null
both() {
  [ "$(sql "SELECT COUNT(DISTINCT item) FROM job_execution WHERE job='jsettle' AND status='succeeded'")" = 2 ]
}
sc_wait_until 90 both || fail "java items did not both succeed: $(sql 'SELECT item,status,agent,error FROM job_execution')"
agents=$(sql "SELECT COUNT(DISTINCT agent) FROM job_execution WHERE job='jsettle' AND status='succeeded'")
[ "$agents" = 2 ] || fail "the two items ran on $agents agent(s), expected 2"
tail=$(sql "SELECT CAST(output_tail AS CHAR) FROM job_execution WHERE job='jsettle' AND item=1 AND status='succeeded' LIMIT 1")
echo "$tail" | grep -q "item=1/2 param=west" || fail "java context not seen in the output: $tail"
for p in "${pids[@]}"; do kill -TERM "$p"; done
for p in "${pids[@]}"; do wait "$p" || fail "agent exited with $?"; done
pids=()
grep -l "runtime error:\|ERROR: AddressSanitizer\|ERROR: LeakSanitizer" "$dir"/j*/log && fail "sanitizer report"
echo ok
