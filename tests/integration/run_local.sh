#!/usr/bin/env bash
# tests/integration/run_local.sh: the README's run-locally command end to end, in
# a scratch directory: everything starts, the console answers, the admin logs
# in, the sample jobs' executions show up through the API (including a failure
# and a timeout), the sample workflow runs to success when triggered (its
# sensor, XCom hand-off and branch included), a second start reuses what runs,
# and stop leaves no process.
# It starts its own ZooKeeper and MariaDB (the test servers are not used).
set -euo pipefail
fail() { echo "FAIL: $*" >&2; exit 1; }
. "$SC_ROOT/scripts/lib.sh"
dir=$(mktemp -d "$SC_TEST_TMP/local.XXXX")
export SHARDCRON_LOCAL_DIR=$dir
# The release binaries, as `make run` uses them.
cleanup() { "$SC_ROOT/scripts/run-local" stop >/dev/null 2>&1 || true; }
trap cleanup EXIT
out=$("$SC_ROOT/scripts/run-local" start) || fail "start: $out"
url=$(echo "$out" | sed -n 's|^Console: \(http://[^ ]*\)/$|\1|p')
[ -n "$url" ] || fail "no console URL printed: $out"
echo "$out" | grep -q "Log in as admin with password: " || fail "no admin password printed"
pw=$(cat "$dir/admin.password")
jar=$dir/cookies
curl -fsS -c "$jar" -H 'Content-Type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$pw\"}" "$url/api/v1/login" >/dev/null || fail "login"
count() { # job status -> number of executions seen through the API
  curl -fsS -b "$jar" "$url/api/v1/executions?job=$1&status=$2&limit=50" |
    grep -o '"execution_id"' | wc -l
}
seen() { [ "$(count city-report succeeded)" -ge 4 ]; }
sc_wait_until 30 seen || fail "city-report executions did not appear through the API"
failed() { [ "$(count flaky-transfer failed)" -ge 1 ]; }
sc_wait_until 60 failed || fail "flaky-transfer never failed"
timedout() { [ "$(count slow-export timeout)" -ge 1 ]; }
sc_wait_until 60 timedout || fail "slow-export never timed out"
# The printed shardcronctl line works as printed: it lists the sample jobs.
line=$(echo "$out" | grep -E '^  .*/shardcronctl --config .*/shardcronctl\.conf job list$') || fail "no shardcronctl line printed: $out"
listed=$(eval "$line") || fail "the printed line failed: $line"
echo "$listed" | grep -q '^city-report ' || fail "the printed line did not list the sample jobs: $listed"
# The sample workflow, triggered as the printed line says, succeeds: its sensor
# saw the file its land task wrote, count handed its output to check, the
# branch took delta (the default mode) and the join ran after the skip.
echo "$out" | grep -q '^sample workflows: nightly-chain' || fail "no sample workflows printed: $out"
wfline=$(echo "$out" | grep -E '^  .*/shardcronctl --config .*workflow trigger nightly-chain') ||
  fail "no workflow trigger line printed: $out"
wfctl=${wfline%% workflow trigger*}
triggered() { run=$(eval "$wfctl workflow trigger nightly-chain --format json" 2>/dev/null | jq -r .run_id) && [ -n "$run" ]; }
sc_wait_until 40 triggered || fail "workflow trigger nightly-chain never answered"
wf_ended() { eval "$wfctl workflow run $run --format json" | jq -e '.state == "succeeded" or .state == "failed"' >/dev/null; }
sc_wait_until 120 wf_ended || fail "nightly-chain run $run never ended: $(eval "$wfctl workflow run $run")"
got=$(eval "$wfctl workflow run $run --format json")
echo "$got" | jq -e '.state == "succeeded" and .tasks.ready.state == "succeeded"
  and .tasks.count.outputs["0"] == {"rows":3} and .tasks.check.outputs["0"] == {"checked":3}
  and .tasks.delta.state == "succeeded" and .tasks.full.state == "skipped"
  and .tasks.report.state == "succeeded" and .tasks.settle.state == "succeeded"' >/dev/null ||
  fail "nightly-chain run: $(eval "$wfctl workflow run $run")"
[ -f "$dir/data/orders-$run.csv" ] || fail "the sample's file is not under the local data dir"
# Shard parameters reach the job: the city names are in the output.
curl -fsS -b "$jar" "$url/api/v1/executions?job=city-report&limit=50" >/dev/null
# The namespace has a digest ACL: without the credentials a job cannot be written.
[ "$(stat -c %a "$dir/zk.auth")" = 600 ] || fail "zk.auth is not mode 600"
zkc=$(echo "$out" | sed -n 's/^ZooKeeper: \([^ ]*\) .*/\1/p')
[ -n "$zkc" ] || fail "no ZooKeeper address printed: $out"
job='{"name":"intruder","cron":"0 0 1 * * ?","command":"true"}'
if echo "$job" | "$SC_ROOT/build/bin/shardcronctl" --zk "$zkc" --namespace local job put - >/dev/null 2>&1; then
  fail "a job was written without the ZooKeeper credentials"
fi
echo "$job" | "$SC_ROOT/build/bin/shardcronctl" --zk "$zkc" --namespace local \
  --zk-auth-file "$dir/zk.auth" job put - >/dev/null || fail "job put with the credentials"
# Start again: everything is reused, nothing is started twice.
out2=$("$SC_ROOT/scripts/run-local" start) || fail "second start: $out2"
echo "$out2" | grep -q "agent a1: running" || fail "second start did not reuse agent a1: $out2"
"$SC_ROOT/scripts/run-local" stop >/dev/null
left=$(pgrep -f "$dir" || true)
[ -z "$left" ] || fail "processes left after stop: $(ps -o pid,args -p ${left//$'\n'/,})"
echo ok
