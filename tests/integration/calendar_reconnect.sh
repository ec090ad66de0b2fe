#!/usr/bin/env bash
# tests/integration/calendar_reconnect.sh: a calendar rewrite whose watch
# notification is lost in a connection reset (same session) still reaches the
# agent. The agent talks to ZooKeeper through tests/lib/tcp_proxy.py; its job
# on calendar "flip" (today, UTC, a holiday) does not fire while a control job
# on "on" (today a make-up workday) does. Server-to-agent traffic is held, the
# calendar is rewritten (today a workday), and once the proxy holds that
# notification the connection is reset, dropping it: after the reconnect the
# job on "flip" fires (the agent read its calendars again), checked from the
# job's own output file.
. "$SC_ROOT/tests/lib/it.sh"
it_setup calrc
sc_wait_until 200 sh -c '[ "$(date -u +%H%M)" -lt 2357 ]' || fail "clock stuck before midnight"
today=$(date -u +%F)
dow=$(date -u +%a | tr a-z A-Z)

coproc PROXY { exec python3 "$SC_ROOT/tests/lib/tcp_proxy.py" "${SC_TEST_ZK%%,*}" "$dir/proxy.log"; }
proxy() { echo "$1" >&"${PROXY[1]}"; read -r -t 20 reply <&"${PROXY[0]}" || fail "proxy: no answer to $1"; }
read -r -t 20 line <&"${PROXY[0]}" || fail "proxy did not start"
pport=${line#port }

echo "{\"name\":\"flip\",\"timezone\":\"UTC\",\"weekend\":[\"SAT\",\"SUN\"],\"holidays\":[\"$today\"]}" > "$dir/flip.json"
echo "{\"name\":\"on\",\"timezone\":\"UTC\",\"weekend\":[\"$dow\"],\"workdays\":[\"$today\"]}" > "$dir/on.json"
for c in flip on; do
  ctl calendar put "$dir/$c.json" >/dev/null || fail "calendar put $c"
  echo "{\"name\":\"on-$c\",\"cron\":\"* * * * * ?\",\"calendar\":\"$c\",
    \"command\":\"echo x >> $dir/$c.out\"}" | ctl job put - >/dev/null || fail "job put on-$c"
done
mkdir -p "$dir/r1"
"$SC_BIN/shardcron-agent" --zk "127.0.0.1:$pport" --namespace "$ns" --id r1 --work-dir "$dir/r1" \
  --http 127.0.0.1:0 --session-timeout-ms 10000 2>"$dir/r1/log" &
it_pids+=($!)

lines() { [ -f "$1" ] && wc -l < "$1" || echo 0; }
fired() { [ "$(lines "$dir/$1.out")" -ge "$2" ]; }
sc_wait_until 60 fired on 3 || fail "the control job never fired: $(tail -5 "$dir/r1/log")"
[ "$(lines "$dir/flip.out")" = 0 ] || fail "the job fired on its holiday"

proxy "hold down"
if [ "$dow" = SAT ] || [ "$dow" = SUN ]; then
  echo "{\"name\":\"flip\",\"timezone\":\"UTC\",\"weekend\":[\"$dow\"],\"workdays\":[\"$today\"]}" > "$dir/flip.json"
else
  echo '{"name":"flip","timezone":"UTC","weekend":["SAT","SUN"]}' > "$dir/flip.json"
fi
ctl calendar put "$dir/flip.json" >/dev/null || fail "calendar rewrite"
held() { proxy stats; case "$reply" in *"/calendars/flip"*) return 0;; *) return 1;; esac; }
sc_wait_until 20 held || fail "the rewrite's notification never reached the proxy: $reply"
proxy reset
[ "$(lines "$dir/flip.out")" = 0 ] || fail "the job fired before the agent could know"
sc_wait_until 60 fired flip 2 || fail "the rewrite was lost with its notification: $(grep -i calendar "$dir/r1/log" | tail -5)"

exec {PROXY[1]}>&-
it_stop_agents
it_sanitizers
echo "calendar_reconnect: ok"
