#!/usr/bin/env bash
# tests/integration/calendar_workflow.sh: a workflow's own cron under a
# business calendar, on a real agent whose coordination leader runs the
# workflow driver (agent/wfdrive.c): the driver's backfill plan over the
# 2026 National Day week leaves the holidays and the weekend out and keeps the
# Saturday make-up day; `workflow list` gives the next logical time under the
# calendar; a workflow every second on a calendar whose today (UTC) is a
# holiday gets no run while one whose today is a make-up workday gets runs.
. "$SC_ROOT/tests/lib/it.sh"
it_setup calwf
sc_wait_until 200 sh -c '[ "$(date -u +%H%M)" -lt 2357 ]' || fail "clock stuck before midnight"
today=$(date -u +%F)
dow=$(date -u +%a | tr a-z A-Z)

cat > "$dir/cn.json" <<'CAL'
{"name":"cn","timezone":"Asia/Shanghai","holidays":["2026-10-01","2026-10-02","2026-10-03",
 "2026-10-04","2026-10-05","2026-10-06","2026-10-07"],"workdays":["2026-09-27","2026-10-10"]}
CAL
echo "{\"name\":\"off\",\"timezone\":\"UTC\",\"weekend\":[\"SAT\",\"SUN\"],\"holidays\":[\"$today\"]}" > "$dir/off.json"
echo "{\"name\":\"makeup\",\"timezone\":\"UTC\",\"weekend\":[\"$dow\"],\"workdays\":[\"$today\"]}" > "$dir/makeup.json"
for c in cn off makeup; do ctl calendar put "$dir/$c.json" >/dev/null || fail "calendar put $c"; done
echo '{"name":"daily","cron":"0 0 1 * * ?","timezone":"Asia/Shanghai","calendar":"cn",
  "tasks":{"a":{"command":"true"}}}' | ctl workflow put - >/dev/null || fail "workflow put daily"
for c in off makeup; do
  echo "{\"name\":\"every-$c\",\"cron\":\"* * * * * ?\",\"calendar\":\"$c\",
    \"tasks\":{\"a\":{\"command\":\"true\"}}}" | ctl workflow put - >/dev/null || fail "workflow put every-$c"
done
it_agent w1 --session-timeout-ms 2000
led() { ctl agents --format json | jq -e '.[0].leader' >/dev/null; }
sc_wait_until 30 led || fail "the agent never led"

planned() {
  out=$(ctl workflow backfill daily --from 2026-09-30T00:00:00+08:00 --to 2026-10-12T00:00:00+08:00 \
    --dry-run --format json 2>"$dir/err")
}
sc_wait_until 40 planned || fail "backfill never answered: $(cat "$dir/err")"
got=$(echo "$out" | jq -c '[.runs[].logical_time]')
# (the driver writes logical times in UTC: 01:00 +08:00 is 17:00 the day before)
[ "$got" = '["2026-09-29T17:00:00+00:00","2026-10-07T17:00:00+00:00","2026-10-08T17:00:00+00:00","2026-10-09T17:00:00+00:00"]' ] \
  || fail "backfill plan under the calendar: $got"

# Scheduled runs: the make-up day's workflow runs, the holiday's never does.
runs() { ctl workflow runs "$1" --format json 2>/dev/null | jq 'length'; }
has_runs() { [ "$(runs every-makeup)" -ge 2 ]; }
sc_wait_until 60 has_runs || fail "the workflow on the make-up workday got no runs"
[ "$(runs every-off)" = 0 ] || fail "the workflow on the holiday got runs: $(ctl workflow runs every-off)"
tomorrow_ms=$(( $(date -u -d "$today + 1 day" +%s) * 1000 ))
ctl workflow list --format json | jq -e --argjson t "$tomorrow_ms" \
  '.[] | select(.name == "every-off") | .next_logical_ms >= $t' >/dev/null \
  || fail "workflow list: the next time of every-off is not after today: $(ctl workflow list --format json)"
it_stop_agents
it_sanitizers
echo "calendar_workflow: ok"
