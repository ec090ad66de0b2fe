#!/usr/bin/env bash
# tests/integration/calendar_cli.sh: `shardcronctl calendar put|get|list|delete`,
# `job preview` and `cron preview --calendar` against the real ZooKeeper of
# tests/run-integration: bad calendars refused (exit 2) naming the field and
# the value, nothing stored; the canonical form read back; a job or workflow
# naming an unknown calendar refused naming it; previews that leave out the
# holiday week and list why (text and JSON); a calendar in use not deleted
# (the refusal names the job), deleted once nothing names it.
set -euo pipefail
fail() { echo "FAIL: $*" >&2; exit 1; }
bin=${SC_BIN:?}
ns=calcli_$$
tmp=$(mktemp -d "$SC_TEST_TMP/calcli.XXXX")
ctl() { "$bin/shardcronctl" --zk "$SC_TEST_ZK" --namespace "$ns" "$@"; }
run_ctl() {
  local want=$1; shift
  set +e; out=$(ctl "$@" 2>"$tmp/err"); rc=$?; set -e
  err=$(cat "$tmp/err")
  [ "$rc" = "$want" ] || fail "shardcronctl $*: exit $rc, want $want (out: $out; err: $err)"
}
has() { echo "$2" | grep -qF -- "$1" || fail "\"$1\" not in: $2"; }

cat > "$tmp/cn.json" <<'CAL'
{"name":"cn-workdays","timezone":"Asia/Shanghai","weekend":["SAT","SUN"],
 "holidays":["2026-10-01","2026-10-02","2026-10-05","2026-10-06","2026-10-07","2026-10-03","2026-10-04"],
 "workdays":["2026-09-27","2026-10-10"]}
CAL
# ---- bad input: exit 2, the field and the value named, nothing stored
bad() { # FILE-CONTENT EXPECTED...
  echo "$1" > "$tmp/bad.json"; shift
  run_ctl 2 calendar put "$tmp/bad.json"
  for w in "$@"; do has "$w" "$err"; done
}
bad '{"name":"x","holidays":["2026-10-01","2026-10-32"]}' 'holidays[1]' '"2026-10-32" is not a date'
bad '{"name":"x","weekend":["SAT","Caturday"]}' 'weekend[1]' '"Caturday" is not a weekday'
bad '{"name":"x","timezone":"Asia/Atlantis"}' 'timezone' 'Asia/Atlantis'
bad '{"name":"x","holidays":["2026-10-10"],"workdays":["2026-10-10"]}' 'workdays' '2026-10-10 is also a holiday'
bad '{"name":"x","workdays":["2026-10-12"]}' 'workdays' '2026-10-12 is a Monday'
bad '{"name":"x","holydays":[]}' 'holydays' 'unknown field'
run_ctl 1 calendar list; has 'does not exist' "$err"   # nothing was written, not even the namespace

# ---- put, get (canonical: dates sorted), list
run_ctl 0 calendar put "$tmp/cn.json"; has "calendar cn-workdays created" "$out"
run_ctl 0 calendar put - < "$tmp/cn.json"; has "calendar cn-workdays updated (version 1)" "$out"
run_ctl 0 calendar get cn-workdays
has '"2026-10-01", "2026-10-02", "2026-10-03"' "$(echo "$out" | tr -d '\n\t' | sed 's/,\s*/, /g')"
run_ctl 0 calendar list; has "cn-workdays" "$out"; has "Asia/Shanghai" "$out"
[ "$(echo "$out" | wc -l)" = 2 ] || fail "want a header and one calendar: $out"
run_ctl 0 calendar list --format json
has '{"name":"cn-workdays","timezone":"Asia/Shanghai","holidays":7,"workdays":2}' "$out"
run_ctl 1 calendar get nope; has "no calendar named nope" "$err"

# ---- jobs and workflows must name a calendar that exists
cat > "$tmp/job.json" <<'JOB'
{"name":"settle","cron":"0 0 9 * * ?","timezone":"Asia/Shanghai","command":"true","calendar":"cn-holidays"}
JOB
run_ctl 2 job put "$tmp/job.json"; has 'calendar: no calendar named "cn-holidays"' "$err"
run_ctl 1 job get settle
sed -i 's/cn-holidays/cn-workdays/' "$tmp/job.json"
run_ctl 0 job put "$tmp/job.json"
echo '{"name":"settle2","cron":"0 0 9 * * ?","command":"true","calendar":"cn-workdays","calendar_rule":"weekends"}' > "$tmp/job2.json"
run_ctl 2 job put "$tmp/job2.json"; has "calendar_rule" "$err"; has '"weekends"' "$err"
echo '{"name":"wf","cron":"0 0 1 * * ?","calendar":"nope","tasks":{"a":{"command":"true"}}}' > "$tmp/wf.json"
run_ctl 2 workflow put "$tmp/wf.json"; has 'no calendar named "nope"' "$err"

echo '{"jobs":[{"name":"imp","cron":"0 0 9 * * ?","command":"true","calendar":"ghost"}]}' > "$tmp/imp.json"
run_ctl 2 import "$tmp/imp.json" --confirm; has 'no calendar named "ghost"' "$err"
run_ctl 1 job get imp                                # nothing was imported

# ---- job preview: the holiday week left out, with the reasons
run_ctl 0 job preview settle -n 4 --from '2026-09-30 00:00:00' --format json
has '"next":["2026-09-30 09:00:00","2026-10-08 09:00:00","2026-10-09 09:00:00","2026-10-10 09:00:00"]' "$out"
has '"calendar":"cn-workdays","calendar_rule":"workdays","calendar_shift":"none"' "$out"
has '{"time":"2026-10-01 09:00:00","epoch":1790816400,"reason":"2026-10-01 is a holiday in cn-workdays"}' "$out"
has '"job":"settle"' "$out"
[ "$(echo "$out" | grep -o '"reason"' | wc -l)" = 4 ] || fail "want 4 skipped (cap -n 4, more): $out"
has '"skipped_more":true' "$out"
run_ctl 0 job preview settle -n 2 --from '2026-09-30 00:00:00'
has "calendar: cn-workdays (workdays, shift none)" "$out"
has "2026-10-08 09:00:00 +08:00" "$out"
has "2026-10-01 09:00:00  2026-10-01 is a holiday in cn-workdays" "$out"
run_ctl 1 job preview nosuch

# ---- cron preview --calendar: text and JSON; shifts
run_ctl 0 cron preview '0 0 9 * * ?' --tz Asia/Shanghai --from '2026-09-30 10:00:00' -n 2 \
  --calendar cn-workdays --calendar-shift next --format json
has '"next":["2026-10-08 09:00:00","2026-10-09 09:00:00"]' "$out"
has '"reason":"2026-10-01 is a holiday in cn-workdays; moved to 2026-10-08 09:00:00"' "$out"
run_ctl 0 cron preview '0 0 9 * * ?' --tz Asia/Shanghai --from '2026-09-25 10:00:00' -n 2 \
  --calendar cn-workdays --calendar-rule holidays
has "2026-09-26 09:00:00 +08:00" "$out"
has "2026-09-27 09:00:00  2026-09-27 is a make-up workday in cn-workdays" "$out"
run_ctl 2 cron preview '0 0 9 * * ?' --calendar cn-workdays --calendar-shift sideways
has "calendar-shift" "$err"
run_ctl 1 cron preview '0 0 9 * * ?' --calendar nope; has "no calendar named nope" "$err"
# without --calendar the preview is unchanged (no calendar fields)
run_ctl 0 cron preview '0 0 9 * * ?' --from '2026-10-01 00:00:00' -n 1 --format json
[ "$out" = '{"valid":true,"expression":"0 0 9 * * ?","timezone":"UTC","next":["2026-10-01 09:00:00"],"next_epoch":[1790845200],"next_offset":["+00:00"]}' ] || fail "plain preview: $out"

# ---- delete: refused while a job names it
run_ctl 1 calendar delete cn-workdays; has "in use by job settle" "$err"
run_ctl 0 calendar get cn-workdays
run_ctl 0 job delete settle
run_ctl 0 calendar delete cn-workdays; has "calendar cn-workdays deleted" "$out"
run_ctl 1 calendar delete cn-workdays; has "no calendar named cn-workdays" "$err"
echo "calendar_cli: ok"
