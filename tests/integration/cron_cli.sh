#!/usr/bin/env bash
# tests/integration/cron_cli.sh: `shardcronctl cron preview|check` as design.md fixes them.
#
# Exact outputs (the Asia/Shanghai example of issue 3, JSON shape, text shape), exit
# statuses (0 ok, 2 invalid input), --from as wall time and @EPOCH, DST gaps, -n bounds.
set -uo pipefail
root=${SC_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${SC_BIN:-$root/build/asan/bin}/shardcronctl
fails=0

# expect NAME WANT_STATUS WANT_OUTPUT -- CMD...: run CMD, compare stdout and exit status.
expect() {
  local name=$1 want_rc=$2 want_out=$3; shift 4
  local out rc
  out=$("$@" 2>/dev/null); rc=$?
  if [ "$rc" != "$want_rc" ] || [ "$out" != "$want_out" ]; then
    echo "FAIL $name: status $rc (want $want_rc)"
    echo "  got:  $out"
    echo "  want: $want_out"
    fails=$((fails + 1))
  else
    echo "ok   $name"
  fi
}

# The acceptance example: every 5 s from 17:22:15 in Shanghai.
next='"2017-08-30 17:22:20","2017-08-30 17:22:25","2017-08-30 17:22:30","2017-08-30 17:22:35","2017-08-30 17:22:40","2017-08-30 17:22:45","2017-08-30 17:22:50","2017-08-30 17:22:55","2017-08-30 17:23:00","2017-08-30 17:23:05"'
offsets=$(printf '"+08:00",%.0s' {1..10}); offsets=${offsets%,}
epochs='1504084940,1504084945,1504084950,1504084955,1504084960,1504084965,1504084970,1504084975,1504084980,1504084985'
expect shanghai-json 0 "{\"valid\":true,\"expression\":\"0/5 * * * * ?\",\"timezone\":\"Asia/Shanghai\",\"next\":[$next],\"next_epoch\":[$epochs],\"next_offset\":[$offsets]}" -- \
  "$bin" cron preview '0/5 * * * * ?' --tz Asia/Shanghai --from '2017-08-30 17:22:15' --format json

text=$(printf 'OK: 0/5 * * * * ?\ntime zone: Asia/Shanghai\n')
for t in 17:22:20 17:22:25 17:22:30 17:22:35 17:22:40 17:22:45 17:22:50 17:22:55 17:23:00 17:23:05; do
  text+=$'\n'"2017-08-30 $t +08:00"
done
expect shanghai-text 0 "$text" -- "$bin" cron preview '0/5 * * * * ?' --tz Asia/Shanghai --from '2017-08-30 17:22:15'

# Same instant given as @EPOCH (17:22:15 +08:00 = 1504084935).
expect from-epoch 0 '{"valid":true,"expression":"0/5 * * * * ?","timezone":"Asia/Shanghai","next":["2017-08-30 17:22:20","2017-08-30 17:22:25"],"next_epoch":[1504084940,1504084945],"next_offset":["+08:00","+08:00"]}' -- \
  "$bin" cron preview '0/5 * * * * ?' --tz Asia/Shanghai --from @1504084935 -n 2 --format json

# Unquoted expression words are joined; default zone is UTC.
expect unquoted-utc 0 '{"valid":true,"expression":"0 0 12 * * ?","timezone":"UTC","next":["2021-01-01 12:00:00"],"next_epoch":[1609502400],"next_offset":["+00:00"]}' -- \
  "$bin" cron preview 0 0 12 '*' '*' '?' --from '2021-01-01 00:00:00' -n 1 --format json

# Spring forward in Berlin: 02:30 does not exist on 2021-03-28 and is skipped.
expect berlin-gap 0 '{"valid":true,"expression":"0 30 2 * * ?","timezone":"Europe/Berlin","next":["2021-03-29 02:30:00"],"next_epoch":[1616977800],"next_offset":["+02:00"]}' -- \
  "$bin" cron preview '0 30 2 * * ?' --tz Europe/Berlin --from '2021-03-28 00:00:00' -n 1 --format json
# --from inside the gap means "from the jump on".
expect from-in-gap 0 '{"valid":true,"expression":"0 0 * * * ?","timezone":"Europe/Berlin","next":["2021-03-28 03:00:00"],"next_epoch":[1616893200],"next_offset":["+02:00"]}' -- \
  "$bin" cron preview '0 0 * * * ?' --tz Europe/Berlin --from '2021-03-28 02:30:00' -n 1 --format json

# Fall back in New York (issue 13): every 5 s fires through both passes of 01:00-01:59,
# which show the same wall times with their two offsets; a fixed hour fires once.
expect ny-repeat-text 0 "$(printf 'OK: */5 * * * * *\ntime zone: America/New_York\n2026-11-01 01:59:55 -04:00\n2026-11-01 01:00:00 -05:00\n2026-11-01 01:00:05 -05:00')" -- \
  "$bin" cron preview '*/5 * * * * *' --tz America/New_York --from '2026-11-01 01:59:50' -n 3
expect ny-repeat-json 0 '{"valid":true,"expression":"*/5 * * * * *","timezone":"America/New_York","next":["2026-11-01 01:59:55","2026-11-01 01:00:00","2026-11-01 01:00:05"],"next_epoch":[1793512795,1793512800,1793512805],"next_offset":["-04:00","-05:00","-05:00"]}' -- \
  "$bin" cron preview '*/5 * * * * *' --tz America/New_York --from '2026-11-01 01:59:50' -n 3 --format json
expect ny-fixed-hour 0 '{"valid":true,"expression":"0 30 1 * * ?","timezone":"America/New_York","next":["2026-11-01 01:30:00","2026-11-02 01:30:00"],"next_epoch":[1793511000,1793601000],"next_offset":["-04:00","-05:00"]}' -- \
  "$bin" cron preview '0 30 1 * * ?' --tz America/New_York --from '2026-11-01 00:00:00' -n 2 --format json

# Invalid input: exit 2 and the error with its position.
expect invalid-json 2 '{"valid":false,"error":"second out of range 0-59","field":"second","position":0}' -- \
  "$bin" cron preview '77 * * * * *' --format json
expect never-fires 2 '{"valid":false,"error":"expression never fires (no matching date between 1970 and 2199)","field":"expression","position":0}' -- \
  "$bin" cron preview '0 0 0 31 6 ?' --format json
expect both-days 2 '{"valid":false,"error":"day-of-month and day-of-week cannot both be restricted; use '"'"'?'"'"' in one of them","field":"day-of-week","position":11}' -- \
  "$bin" cron check '0 0 0 15 * MON' --format json
expect check-ok 0 'OK: @every 5s' -- "$bin" cron check '@every 5s'
expect check-json 0 '{"valid":true,"expression":"0 0 7 ? * MON-FRI"}' -- "$bin" cron check '0 0 7 ? * MON-FRI' --format json
expect check-bad-text 2 '' -- "$bin" cron check '0 0 0 30 2 ?'
expect bad-zone 2 '{"valid":false,"error":"unknown time zone \"Mars/Olympus\"","field":"timezone"}' -- \
  "$bin" cron preview '@daily' --tz Mars/Olympus --format json
expect bad-from 2 '{"valid":false,"error":"from: \"yesterday\" is not '"'"'YYYY-MM-DD HH:MM:SS'"'"' or @EPOCH_SECONDS","field":"from"}' -- \
  "$bin" cron preview '@daily' --from yesterday --format json
expect n-zero 2 '{"valid":false,"error":"n: must be between 1 and 1000","field":"n"}' -- \
  "$bin" cron preview '@daily' -n 0 --format json
expect n-big 2 '{"valid":false,"error":"n: must be between 1 and 1000","field":"n"}' -- \
  "$bin" cron preview '@daily' -n 1001 --format json
expect bad-format 2 '' -- "$bin" cron preview '@daily' --format xml
# A bounded year runs out: fewer than N times, still valid.
expect runs-out 0 '{"valid":true,"expression":"0 0 0 1 1 ? 2199","timezone":"UTC","next":["2199-01-01 00:00:00"],"next_epoch":[7226582400],"next_offset":["+00:00"]}' -- \
  "$bin" cron preview '0 0 0 1 1 ? 2199' --from '2100-01-01 00:00:00' -n 5 --format json

# The default --from is now: the first time is in the future.
now=$(date +%s)
first=$("$bin" cron preview '@every 5s' -n 1 --format json | sed -n 's/.*"next_epoch":\[\([0-9]*\)\].*/\1/p')
if [ -z "$first" ] || [ "$first" -le "$now" ] || [ "$first" -gt $((now + 10)) ] || [ $((first % 5)) != 0 ]; then
  echo "FAIL default-from: $first (now $now)"; fails=$((fails + 1))
else
  echo "ok   default-from"
fi

[ "$fails" = 0 ] || { echo "cron_cli: $fails failed"; exit 1; }
echo "cron_cli: all passed"
