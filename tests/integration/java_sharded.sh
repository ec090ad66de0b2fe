#!/usr/bin/env bash
# tests/integration/java_sharded.sh: the example Java job, sharded over two real
# agents through their warm JVM workers; both items succeed on different agents
# and land in MariaDB with the context the job saw (item, total, parameter, and
# the fence of its history row).
. "$SC_ROOT/tests/lib/it.sh"
jar=$SC_ROOT/build/java/shardcron-java.jar
[ -f "$jar" ] || fail "$jar not built (make builds it when a JDK is present)"
it_setup java
for i in 1 2; do it_agent "j$i" --session-timeout-ms 4000 --java-jar "$jar"; done
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
read -r id fence <<<"$(sql "SELECT execution_id, fence FROM job_execution WHERE job='jsettle' AND item=1 AND status='succeeded' LIMIT 1")"
tail=$(sql "SELECT CAST(output_tail AS CHAR) FROM job_execution WHERE execution_id='$id'")
echo "$tail" | grep -q "item=1/2 param=west" || fail "java context not seen in the output: $tail"
[[ $fence =~ ^[0-9]{12}\.([0-9]{12})\.0001$ ]] || fail "java row fence '$fence'"
echo "$tail" | grep -q "fence=$fence epoch=$((10#${BASH_REMATCH[1]}))\b" ||
  fail "the java job did not see its row's fence $fence: $tail"
it_stop_agents
it_sanitizers
echo ok
