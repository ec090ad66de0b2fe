#!/usr/bin/env bash
# tests/integration/pause_workflow.sh: a pause window over a workflow, on a real
# agent whose leader drives workflows (agent/wfdrive.c), real ZooKeeper and
# MariaDB (docs/pauses.md). A run triggered inside a window scoping its
# workflow does not start its first task: the task stays waiting with its
# reason saying "paused until ..." (what `workflow run` and the console show),
# the run keeps running (not failed), and the task starts once the window is
# over; the run then succeeds. A window over a task's job holds that task the
# same way, while a task of another job runs.
. "$SC_ROOT/tests/lib/it.sh"
it_setup pausewf
has() { echo "$2" | grep -q -- "$1" || fail "\"$1\" not in: $2"; }

it_agent w1 --session-timeout-ms 2000
echo '{"name":"pj","command":"true","domain":"fin"}' | ctl job put - >/dev/null || fail "job put"
cat >"$dir/flow.json" <<'EOF2'
{"name":"pflow","tasks":{"a":{"command":"true"},"b":{"command":"true","upstream":["a"]},
 "c":{"job":"pj"}}}
EOF2
ctl workflow put "$dir/flow.json" >/dev/null || fail "workflow put"
led() { ctl agents --format json | jq -e '.[0].leader' >/dev/null; }
sc_wait_until 30 led || fail "the agent never led"

# the whole workflow paused for 6 s from now
to=$(( $(date +%s) + 6 ))
echo "{\"id\":\"wf-hold\",\"scope\":{\"workflow\":\"pflow\"},\"from\":\"@$(date +%s)\",\"to\":\"@$to\",\"reason\":\"maintenance\"}" \
  | ctl pause add - >/dev/null || fail "pause add"
triggered() {
  set +e; out=$(ctl workflow trigger pflow --format json 2>"$dir/err"); rc=$?; set -e
  [ "$rc" = 0 ]
}
sc_wait_until 40 triggered || fail "trigger never answered: $(cat "$dir/err")"
run=$(echo "$out" | jq -r .run_id)
held() {
  ctl workflow run "$run" --format json >"$dir/run.json" 2>/dev/null &&
    jq -e '.state == "running" and .tasks.a.state == "waiting" and (.tasks.a.reason | test("^paused until [0-9-]+ [0-9:]+Z by window wf-hold: maintenance$"))
      and .tasks.c.state == "waiting" and (.tasks.c.reason | test("wf-hold"))' "$dir/run.json" >/dev/null
}
sc_wait_until 20 held || fail "the tasks are not held: $(cat "$dir/run.json")"
[ "$(date +%s)" -lt "$to" ] || fail "the machine was too slow to see the hold inside the window"
ctl workflow run "$run" >"$dir/run.txt"
grep -Eq '^a +waiting .*paused until .* by window wf-hold: maintenance' "$dir/run.txt" || fail "text view: $(cat "$dir/run.txt")"

succeeded() { ctl workflow run "$run" --format json >"$dir/run.json" 2>/dev/null && jq -e '.state == "succeeded"' "$dir/run.json" >/dev/null; }
sc_wait_until 60 succeeded || fail "the run never succeeded after the window: $(cat "$dir/run.json")"
jq -e --argjson to "$to" '.tasks.a.started_ms >= $to * 1000 and .tasks.c.started_ms >= $to * 1000
  and .tasks.b.state == "succeeded" and .tasks.a.reason == ""' "$dir/run.json" >/dev/null \
  || fail "a task started inside the window: $(cat "$dir/run.json")"
ctl pause delete wf-hold >/dev/null

# a window over the job pj (by its domain) holds task c only
to=$(( $(date +%s) + 5 ))
echo "{\"id\":\"job-hold\",\"scope\":{\"domain\":\"fin\"},\"from\":\"@$(date +%s)\",\"to\":\"@$to\",\"action\":\"defer\",\"reason\":\"fin closed\"}" \
  | ctl pause add - >/dev/null || fail "pause add"
sc_wait_until 40 triggered || fail "second trigger never answered: $(cat "$dir/err")"
run=$(echo "$out" | jq -r .run_id)
partly() {
  ctl workflow run "$run" --format json >"$dir/run.json" 2>/dev/null &&
    jq -e '.state == "running" and .tasks.b.state == "succeeded" and .tasks.c.state == "waiting" and (.tasks.c.reason | test("job-hold: fin closed"))' "$dir/run.json" >/dev/null
}
sc_wait_until 20 partly || fail "a and b should run while c waits: $(cat "$dir/run.json")"
[ "$(date +%s)" -lt "$to" ] || fail "the machine was too slow to see the hold inside the window"
sc_wait_until 60 succeeded || fail "the run never succeeded after the job's window: $(cat "$dir/run.json")"
jq -e --argjson to "$to" '.tasks.c.started_ms >= $to * 1000' "$dir/run.json" >/dev/null || fail "c started inside: $(cat "$dir/run.json")"

it_stop_agents
it_sanitizers
echo "pause_workflow: ok"
