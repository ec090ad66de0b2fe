#!/usr/bin/env bash
# tests/integration/calendar_agent.sh: real agents fire under business calendars
# read from a real ZooKeeper. Today (UTC) is a holiday in calendar "off" and a
# make-up workday in calendar "makeup" (today's weekday made a weekend day, then
# listed under workdays). A job every second on each: the one on "makeup" fires
# (its own output file grows), the one on "off" never does, and no missed
# execution is recorded for it (a dropped fire is not a missed one). Then the
# holiday is taken out of "off" (a calendar rewrite, seen through the agents'
# watches): its job starts firing without being touched.
. "$SC_ROOT/tests/lib/it.sh"
it_setup calag
# Near midnight "today" would change under the test: then wait for the new day.
sc_wait_until 200 sh -c '[ "$(date -u +%H%M)" -lt 2357 ]' || fail "clock stuck before midnight"
today=$(date -u +%F)
dow=$(date -u +%a | tr a-z A-Z)

cat > "$dir/off.json" <<CAL
{"name":"off","timezone":"UTC","weekend":["SAT","SUN"],"holidays":["$today"]}
CAL
cat > "$dir/makeup.json" <<CAL
{"name":"makeup","timezone":"UTC","weekend":["$dow"],"workdays":["$today"]}
CAL
ctl calendar put "$dir/off.json" >/dev/null || fail "calendar put off"
ctl calendar put "$dir/makeup.json" >/dev/null || fail "calendar put makeup"
for cal in off makeup; do
  cat > "$dir/$cal-job.json" <<JOB
{"name":"on-$cal","cron":"* * * * * ?","calendar":"$cal",
 "command":"echo \$SHARDCRON_FIRE_TIME >> $dir/$cal.out"}
JOB
  ctl job put "$dir/$cal-job.json" >/dev/null || fail "job put on-$cal"
done
for i in 1 2; do it_agent "cal$i" --session-timeout-ms 4000; done

lines() { [ -f "$1" ] && wc -l < "$1" || echo 0; }
fired() { [ "$(lines "$dir/$1.out")" -ge "$2" ]; }
sc_wait_until 60 fired makeup 5 || fail "the job on the make-up workday did not fire: $(tail -5 "$dir"/cal*/log)"
[ "$(lines "$dir/off.out")" = 0 ] || fail "the job on the holiday fired: $(cat "$dir/off.out")"
# The agents report executions to MariaDB: the holiday job has none at all,
# missed included, while the make-up one has its runs there.
recorded() { [ "$(sql "SELECT COUNT(*) FROM job_execution WHERE job='on-makeup' AND status='succeeded'")" -ge 3 ]; }
sc_wait_until 30 recorded || fail "the make-up job's runs are not in the history"
n=$(sql "SELECT COUNT(*) FROM job_execution WHERE job='on-off'")
[ "$n" = 0 ] || fail "the holiday job has $n history rows: $(sql "SELECT status, reason FROM job_execution WHERE job='on-off' LIMIT 5")"

# The preview says why.
out=$(ctl job preview on-off -n 3 --format json)
echo "$out" | grep -q "\"reason\":\"$today is a holiday in off\"" || fail "job preview: $out"

# Today stops being a holiday: the agents see the rewrite and the job fires.
cat > "$dir/off.json" <<CAL
{"name":"off","timezone":"UTC","weekend":["SAT","SUN"],"holidays":[]}
CAL
# (a weekend day stays excluded under workdays: make today a workday either way)
if [ "$dow" = SAT ] || [ "$dow" = SUN ]; then
  echo "{\"name\":\"off\",\"timezone\":\"UTC\",\"weekend\":[\"$dow\"],\"workdays\":[\"$today\"]}" > "$dir/off.json"
fi
ctl calendar put "$dir/off.json" >/dev/null || fail "calendar put off (rewrite)"
sc_wait_until 60 fired off 3 || fail "the job did not fire after its holiday was removed: $(grep -h calendar "$dir"/cal*/log | tail -5)"

it_stop_agents
it_sanitizers
echo "calendar_agent: ok"
