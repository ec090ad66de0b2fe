#!/usr/bin/env bash
# tests/integration/agent_history.sh: real agents write every execution to a
# real MariaDB: a job on 2 items over 2 agents lands as rows with the final
# status (a failing item as failed, with its exit code and output tail), and the
# leader's housekeeping deletes an execution older than the retention period;
# the agent prunes execution logs older than log_retention_days. Every run's
# SHARDCRON_FENCE, as the job itself wrote it to a file, is the fence of its
# history row: its fire second, the epoch the agent had applied, its attempt.
. "$SC_ROOT/tests/lib/it.sh"
it_setup ah
# An execution from 40 days ago: retention (30 days) must delete it.
sql "INSERT INTO job_execution (execution_id, job, item, fire_time, trigger_type, attempt, status)
     VALUES ('old-1', 'tick', 0, NOW(3) - INTERVAL 40 DAY, 'cron', 1, 'succeeded')"
# An execution log from 20 days ago and a recent one: the agent deletes the
# first at start (log_retention_days 14) and keeps the second.
mkdir -p "$dir/ah1/logs"
echo old > "$dir/ah1/logs/tick.0.old-exec.log"; touch -d '20 days ago' "$dir/ah1/logs/tick.0.old-exec.log"
echo new > "$dir/ah1/logs/tick.0.new-exec.log"
for i in 1 2; do it_agent "ah$i" --session-timeout-ms 2000; done
cat > "$dir/job.json" <<JOB
{"name":"tick","cron":"* * * * * ?","shards":2,
 "command":"echo out-\$SHARDCRON_SHARD_ITEM; echo \"\$SHARDCRON_EXECUTION_ID \$SHARDCRON_FENCE \$SHARDCRON_EPOCH\" >> $dir/fences; [ \$SHARDCRON_SHARD_ITEM = 0 ] || exit 7"}
JOB
ctl job put "$dir/job.json" >/dev/null
have_rows() {
  [ "$(sql "SELECT COUNT(*) FROM job_execution WHERE job='tick' AND item=0 AND status='succeeded'")" -ge 3 ] &&
  [ "$(sql "SELECT COUNT(*) FROM job_execution WHERE job='tick' AND item=1 AND status='failed'")" -ge 3 ]
}
sc_wait_until 30 have_rows || fail "executions did not reach MariaDB: $(sql 'SELECT item,status,COUNT(*) FROM job_execution GROUP BY item,status')"
row=$(sql "SELECT exit_code, CAST(output_tail AS CHAR), agent FROM job_execution WHERE item=1 AND status='failed' LIMIT 1")
echo "$row" | grep -q "^7	out-1" || fail "failed row: $row"
# The agents pre-armed their starts (held shells released at the second) and
# the rows are still right: started at or after the scheduled second.
released=0
for i in 1 2; do
  n=$(curl -s "http://127.0.0.1:$(cat "$dir/ah$i/http.port")/metrics" |
      awk '$1 == "shardcron_agent_prearm_released_total" {print $2}')
  released=$((released + ${n:-0}))
done
[ "$released" -gt 0 ] || fail "no start was pre-armed"
early=$(sql "SELECT COUNT(*) FROM job_execution WHERE job='tick' AND started_at < fire_time")
[ "$early" = 0 ] || fail "$early executions recorded as started before their fire time"
# The fence each job saw is the one in its row. Only runs write the file, and
# every run (pre-armed or not) must have had one.
fence_in_row() {
  [ "$(sql "SELECT COUNT(*) FROM job_execution WHERE execution_id='$1' AND fence='$2'
            AND SUBSTRING(fence, 1, 12) = LPAD(TIMESTAMPDIFF(SECOND, '1970-01-01', fire_time), 12, '0')
            AND SUBSTRING(fence, 27) = LPAD(attempt, 4, '0')")" = 1 ]
}
applied() { curl -s "http://127.0.0.1:$(cat "$dir/$1/http.port")/status" | sed -n 's/.*"applied_epoch":\([0-9]*\).*/\1/p'; }
checked=0
while read -r id fence epoch; do
  [[ $fence =~ ^[0-9]{12}\.[0-9]{12}\.[0-9]{4}$ ]] || fail "run $id saw SHARDCRON_FENCE='$fence'"
  [ "${fence:13:12}" = "$(printf %012d "$epoch")" ] || fail "fence $fence does not carry SHARDCRON_EPOCH=$epoch"
  sc_wait_until 30 fence_in_row "$id" "$fence" ||
    fail "run $id: its row does not hold fence $fence: $(sql "SELECT fire_time, attempt, fence FROM job_execution WHERE execution_id='$id'")"
  # the epoch the run started under: one its agent had applied (epochs only grow)
  ag=$(sql "SELECT agent FROM job_execution WHERE execution_id='$id'")
  now=$(applied "$ag")
  [ "$epoch" -ge 1 ] && [ "$epoch" -le "${now:-0}" ] || fail "run $id: epoch $epoch, agent $ag has applied ${now:-?}"
  checked=$((checked + 1))
done < <(head -n 8 "$dir/fences")
[ "$checked" -ge 6 ] || fail "only $checked runs recorded their fence"
# Within an item, fence order is fire order, and no two runs share one.
for item in 0 1; do
  by_fire=$(sql "SELECT fence FROM job_execution WHERE job='tick' AND item=$item AND fence IS NOT NULL ORDER BY fire_time, attempt")
  [ -n "$by_fire" ] || fail "item $item has no fenced rows"
  [ "$by_fire" = "$(echo "$by_fire" | LC_ALL=C sort -u)" ] || fail "item $item: fences out of fire order: $by_fire"
done
unfenced=$(sql "SELECT COUNT(*) FROM job_execution WHERE job='tick' AND status IN ('succeeded','failed') AND fence IS NULL AND execution_id <> 'old-1'")
[ "$unfenced" = 0 ] || fail "$unfenced finished runs have no fence in their row"
# No (item, fire time) twice.
dups=$(sql "SELECT COUNT(*) FROM (SELECT item, fire_time FROM job_execution WHERE job='tick' AND trigger_type='cron' GROUP BY item, fire_time HAVING COUNT(*) > 1) d")
[ "$dups" = 0 ] || fail "$dups duplicated fires"
# The leader's housekeeping removes the old execution.
old_gone() { [ "$(sql "SELECT COUNT(*) FROM job_execution WHERE execution_id='old-1'")" = 0 ]; }
sc_wait_until 30 old_gone || fail "retention did not delete the 40-day-old execution"
old_log_gone() { [ ! -e "$dir/ah1/logs/tick.0.old-exec.log" ]; }
sc_wait_until 30 old_log_gone || fail "the 20-day-old execution log was not pruned"
[ -e "$dir/ah1/logs/tick.0.new-exec.log" ] || fail "a recent execution log was pruned"
it_stop_agents
it_sanitizers
echo ok
