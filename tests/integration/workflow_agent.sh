#!/usr/bin/env bash
# tests/integration/workflow_agent.sh: `shardcronctl workflow` against a real
# agent whose coordination leader runs the workflow driver (agent/wfdrive.c):
# a run triggered with a parameter and a logical time with an offset runs a job
# task then a command task that writes its output from the parameter; `workflow
# run` shows it succeeded, in the workflow's zone, with the output; the
# driver's refusals come back as its words with exit 1; clear re-runs a task as
# attempt 2; a dry-run backfill prints the plan of the workflow's cron; delete
# goes through once nothing is active. (The fake driver of workflow_cli.sh
# covers what a real one cannot be made to do on demand, such as not answering.)
. "$SC_ROOT/tests/lib/it.sh"
it_setup wfagent

# run_ctl WANT_STATUS ARGS...: $out and $err; fails on another status
run_ctl() {
  local want=$1; shift
  set +e; out=$(ctl "$@" 2>"$dir/err"); rc=$?; set -e
  err=$(cat "$dir/err")
  [ "$rc" = "$want" ] || fail "shardcronctl $*: exit $rc, want $want (out: $out; err: $err)"
}
has() { echo "$2" | grep -q -- "$1" || fail "\"$1\" not in: $2"; }

it_agent w1 --session-timeout-ms 2000
echo '{"name":"wfjob","cron":"0 0 1 * * ?","command":"true","shards":2}' | ctl job put - >/dev/null \
  || fail "job put"
cat >"$dir/flow.json" <<'EOF'
{"name":"flow","cron":"0 0 1 * * ?","timezone":"Asia/Shanghai","params":{"region":"cn"},
 "tasks":{"a":{"job":"wfjob"},
          "b":{"command":"printf '{\"region\":\"%s\"}' \"$SHARDCRON_PARAM_region\" > \"$SHARDCRON_XCOM_OUT\"","upstream":["a"]}}}
EOF
run_ctl 0 workflow put "$dir/flow.json"

# The driver answers once this agent leads and has read the definition.
led() { ctl agents --format json | jq -e '.[0].leader' >/dev/null; }
sc_wait_until 30 led || fail "the agent never led"
triggered() {
  set +e; out=$(ctl workflow trigger flow --param region=eu --logical-time 2026-12-07T01:00:00+08:00 \
    --format json 2>"$dir/err"); rc=$?; set -e
  [ "$rc" = 0 ]
}
sc_wait_until 40 triggered || fail "trigger never answered: $(cat "$dir/err")"
run=$(echo "$out" | jq -r .run_id)
[ "$run" = "flow@20261206T170000Z" ] || fail "run id: $out"
run_ctl 1 workflow trigger flow --logical-time 2026-12-07T01:00:00+08:00
has "$run" "$err"                                 # one run a logical time

succeeded() { ctl workflow run "$run" --format json | jq -e '.state == "succeeded"' >/dev/null; }
sc_wait_until 60 succeeded || fail "run never succeeded: $(ctl workflow run "$run" --format json)"
run_ctl 0 workflow run "$run" --format json
echo "$out" | jq -e '.logical_time == "2026-12-07T01:00:00+08:00" and .trigger == "manual"
  and .params.region == "eu" and .tasks.a.state == "succeeded" and .tasks.b.state == "succeeded"
  and .tasks.b.outputs["0"] == {"region":"eu"}' >/dev/null || fail "run: $out"
run_ctl 0 workflow run "$run"
has "run $run: succeeded" "$out"
has '{"0":{"region":"eu"}}' "$out"
run_ctl 0 workflow runs flow
has "$run .* succeeded .* manual" "$out"

run_ctl 1 workflow mark "$run" nope failed        # the driver's refusals, its words
[ -n "$err" ] || fail "mark of an unknown task: no message"
run_ctl 1 workflow cancel "$run"; has "ended" "$err"
run_ctl 1 workflow trigger nosuch; has "no workflow" "$err"

run_ctl 0 workflow clear "$run" b
rerun() { ctl workflow run "$run" --format json | jq -e '.state == "succeeded" and .tasks.b.attempt == 2 and .tasks.b.state == "succeeded"' >/dev/null; }
sc_wait_until 60 rerun || fail "b never ran again: $(ctl workflow run "$run" --format json)"

run_ctl 0 workflow backfill flow --from 2026-12-01T00:00:00+08:00 --to 2026-12-03T12:00:00+08:00 --dry-run
has "flow@20261130T170000Z .* create" "$out"
has "flow@20261202T170000Z .* create" "$out"
has "dry run: 3 of 3 logical times would get a run" "$out"

run_ctl 0 workflow delete flow
run_ctl 1 workflow get flow
it_stop_agents
it_sanitizers
echo "workflow_agent: ok"
