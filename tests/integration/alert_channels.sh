#!/usr/bin/env bash
# tests/integration/alert_channels.sh: alert channels, escalation and
# acknowledgement (docs/alerts.md), with real ZooKeeper, MariaDB, two agents,
# the console and loopback receivers that check what they get:
#  - DingTalk: the receiver recomputes the query's sign (python3 hmac) and
#    refuses a bad one; a job signing with the wrong secret is refused and its
#    notice stays pending with the refusal as last_error;
#  - Feishu: the body's timestamp/sign checked the same way;
#  - email: a loopback SMTP server gets the mail (libcurl smtp://); a channel
#    asking for STARTTLS from a server that does not offer it sends nothing;
#  - escalation: an alert not acknowledged within after_s goes to the next
#    level's channel (WeCom markdown); an acknowledged one escalates no further;
#    its resolve reaches the levels it was escalated to;
#  - acknowledgement: the signed link in a notice shows a confirmation page
#    (opening it changes nothing), its POST acknowledges the alert on the
#    console (no login), a tampered link is refused, and reminders stop
#    (suppressed in the outbox, none reach the receiver); the console's
#    POST /alerts/{id}/silence and /ack need an operator session.
. "$SC_ROOT/tests/lib/it.sh"
it_setup alertch
rpids=()
cleanup() {
  for p in "${rpids[@]}"; do kill "$p" 2>/dev/null || true; done
  it_cleanup
}
trap cleanup EXIT
recv="$SC_ROOT/tests/lib/alert_receiver.py"

# ---- the console (the acknowledgement links point at it)
echo "pw-admin-12345" >"$dir/admin.pw"; chmod 600 "$dir/admin.pw"
SHARDCRON_CONSOLE_PORT_FILE=$dir/cport "$SC_BIN/shardcron-console" --zk "$SC_TEST_ZK" --namespace "$ns" \
  --mysql "$url" --mysql-password-file "$SC_TEST_MYSQL_PASSWORD_FILE" --listen 127.0.0.1:0 \
  --web "$SC_ROOT/console/web" --admin-password-file "$dir/admin.pw" >"$dir/console.log" 2>&1 &
it_pids+=($!)
sc_wait_until 20 test -s "$dir/cport" || { tail "$dir/console.log"; fail "the console did not start"; }
cport=$(cat "$dir/cport")

# ---- receivers and the agents' secrets store
mkdir -m 700 "$dir/store"
printf 'SECding-0123456789' >"$dir/store/dingkey"
printf 'feishu-secret-42' >"$dir/store/feikey"
chmod 600 "$dir/store"/*
python3 "$recv" dingtalk "$dir/dt.port" "$dir/dt.log" 'SECding-0123456789' & rpids+=($!)
python3 "$recv" feishu "$dir/fs.port" "$dir/fs.log" 'feishu-secret-42' & rpids+=($!)
python3 "$recv" http "$dir/w.port" "$dir/w.log" & rpids+=($!)
python3 "$SC_ROOT/tests/lib/smtp_receiver.py" "$dir/smtp.port" "$dir/smtp.log" & rpids+=($!)
for f in dt fs w smtp; do sc_wait_until 30 test -s "$dir/$f.port" || fail "receiver $f did not start"; done
dt=$(cat "$dir/dt.port") fs=$(cat "$dir/fs.port") w=$(cat "$dir/w.port") smtp=$(cat "$dir/smtp.port")

for i in 1 2; do
  it_agent "ch$i" --session-timeout-ms 2000 --alert-interval-ms 300 --alert-reminder-s 2 \
    --webhook-timeout-ms 1500 --alert-retry-max-s 2 --secrets "$dir/store" \
    --alert-ack-url "http://127.0.0.1:$cport/"
done
put() { echo "$2" > "$dir/$1.json"; ctl job put "$dir/$1.json" >/dev/null || fail "job put $1"; }
put ding "{\"name\":\"ding\",\"cron\":\"* * * * * ?\",\"command\":\"exit 1\",\"alert\":{\"on\":[\"failure\"],
  \"channels\":[{\"type\":\"dingtalk\",\"url\":\"http://127.0.0.1:$dt/robot/send?access_token=t1\",\"secret\":{\"secret\":\"dingkey\"}}]}}"
put dingbad "{\"name\":\"dingbad\",\"cron\":\"* * * * * ?\",\"command\":\"exit 1\",\"alert\":{\"on\":[\"failure\"],
  \"channels\":[{\"type\":\"dingtalk\",\"url\":\"http://127.0.0.1:$dt/robot/send?access_token=t2\",\"secret\":\"SECwrong\",\"format\":\"text\"}]}}"
put fei "{\"name\":\"fei\",\"cron\":\"* * * * * ?\",\"command\":\"exit 1\",\"alert\":{\"on\":[\"failure\"],
  \"channels\":[{\"type\":\"feishu\",\"url\":\"http://127.0.0.1:$fs/open-apis/bot/v2/hook/x\",\"secret\":{\"secret\":\"feikey\"}}]}}"
put mail "{\"name\":\"mail\",\"cron\":\"* * * * * ?\",\"command\":\"exit 1\",\"alert\":{\"on\":[\"failure\"],
  \"channels\":[{\"type\":\"email\",\"smtp\":\"smtp://127.0.0.1:$smtp\",\"from\":\"shardcron@test.invalid\",\"to\":[\"ops@test.invalid\"]}]}}"
put mailtls "{\"name\":\"mailtls\",\"cron\":\"* * * * * ?\",\"command\":\"exit 1\",\"alert\":{\"on\":[\"failure\"],
  \"channels\":[{\"type\":\"email\",\"smtp\":\"smtp://127.0.0.1:$smtp\",\"starttls\":true,\"from\":\"shardcron@test.invalid\",\"to\":[\"tls@test.invalid\"]}]}}"
put esc "{\"name\":\"esc\",\"cron\":\"* * * * * ?\",\"command\":\"exit 1\",\"alert\":{\"on\":[\"failure\"],
  \"channels\":[{\"type\":\"webhook\",\"url\":\"http://127.0.0.1:$w/esc\"}],
  \"escalate\":[{\"after_s\":3,\"channels\":[{\"type\":\"wecom\",\"url\":\"http://127.0.0.1:$w/wecom\"}]}]}}"
put esc2 "{\"name\":\"esc2\",\"cron\":\"* * * * * ?\",\"command\":\"test -f $dir/ok2\",\"alert\":{\"on\":[\"failure\"],
  \"channels\":[{\"type\":\"webhook\",\"url\":\"http://127.0.0.1:$w/esc2\"}],
  \"escalate\":[{\"after_s\":3,\"channels\":[{\"type\":\"slack\",\"url\":\"http://127.0.0.1:$w/lead\"}]},
               {\"after_s\":8,\"channels\":[{\"type\":\"slack\",\"url\":\"http://127.0.0.1:$w/head\"}]}]}}"
put ackme "{\"name\":\"ackme\",\"cron\":\"* * * * * ?\",\"command\":\"exit 1\",\"alert\":{\"on\":[\"failure\"],
  \"channels\":[{\"type\":\"webhook\",\"url\":\"http://127.0.0.1:$w/ack\"}]}}"
# A bad channel is refused at put, naming the field.
echo '{"name":"badch","cron":"* * * * * ?","command":"true","alert":{"channels":[{"type":"pager","url":"http://x"}]}}' >"$dir/badch.json"
err=$(ctl job put "$dir/badch.json" 2>&1 >/dev/null) && fail "a job with channel type pager was accepted"
echo "$err" | grep -q "alert.channels\[0\].type" || fail "the error does not name the field: $err"

# lines LOG: the complete lines of a log a receiver may be appending to.
lines() { head -n "$(wc -l < "$1")" "$1"; }
count() { [ -f "$1" ] && { lines "$1" | jq -c "$2" | grep -c . || true; } || echo 0; }

# ---- DingTalk: signed, checked; a wrong secret is refused and retried, not lost
ding_ok() { [ "$(count "$dir/dt.log" 'select(.path == "/robot/send" and .body.msgtype == "markdown" and (.body.markdown.text | test("job ding\\b")))')" -ge 1 ]; }
sc_wait_until 40 ding_ok || fail "no signed DingTalk notice: $(cat "$dir/dt.log" "$dir/dt.log.refused" 2>/dev/null)"
bad_refused() {
  [ "$(count "$dir/dt.log.refused" 'select(.body.msgtype == "text" and (.body.text.content | test("job dingbad")))')" -ge 1 ] &&
  [ "$(sql "SELECT COUNT(*) FROM alert_outbox WHERE job = 'dingbad' AND state = 'pending' AND last_error = 'HTTP 403'")" -ge 1 ]
}
sc_wait_until 40 bad_refused || fail "the wrongly signed notice was not refused: $(sql "SELECT id, state, last_error FROM alert_outbox WHERE job='dingbad'")"
[ "$(count "$dir/dt.log" 'select(.body.text.content // "" | test("dingbad"))')" = 0 ] || fail "a wrongly signed notice was accepted"

# ---- Feishu
fei_ok() { [ "$(count "$dir/fs.log" 'select(.body.msg_type == "text" and (.body.content.text | test("job fei")))')" -ge 1 ]; }
sc_wait_until 40 fei_ok || fail "no signed Feishu notice: $(cat "$dir/fs.log" "$dir/fs.log.refused" 2>/dev/null)"
[ ! -s "$dir/fs.log.refused" ] || fail "Feishu refused: $(cat "$dir/fs.log.refused")"

# ---- email over SMTP
mail_ok() { [ "$(count "$dir/smtp.log" 'select((.to | index("ops@test.invalid")) and (.data | test("Subject: \\[shardcron\\] OPEN failed: job mail")))')" -ge 1 ]; }
sc_wait_until 40 mail_ok || fail "no mail: $(cat "$dir/smtp.log" 2>/dev/null); $(sql "SELECT id, state, last_error FROM alert_outbox WHERE job='mail'")"

# STARTTLS asked for and not offered by the server: nothing goes out in clear,
# on the first try or on retries (while the mail job keeps connections to the
# same server busy: libcurl once reused one of those plain connections).
tls_refused() { [ "$(sql "SELECT COUNT(*) FROM alert_outbox WHERE job = 'mailtls' AND state = 'pending' AND attempts >= 3 AND last_error <> ''")" -ge 1 ]; }
sc_wait_until 40 tls_refused || fail "a mail requiring STARTTLS is not waiting refused (sent in clear?): $(sql "SELECT id, state, attempts, last_error FROM alert_outbox WHERE job='mailtls'")"
[ "$(count "$dir/smtp.log" 'select(.to | index("tls@test.invalid"))')" = 0 ] || fail "a starttls mail went out in clear"
echo "starttls refused: $(sql "SELECT last_error FROM alert_outbox WHERE job = 'mailtls' AND last_error <> '' LIMIT 1")" >&2

# ---- escalation to the next level's channel
esc_ok() { [ "$(count "$dir/w.log" 'select(.path == "/wecom" and .body.msgtype == "markdown" and (.body.markdown.content | test("ESCALATE failed: job esc")))')" -ge 1 ]; }
sc_wait_until 40 esc_ok || fail "no escalation: $(sql "SELECT * FROM alert_ack")"
# (a job may have a second open alert, e.g. a fire recorded missed at start:
# alert.on leaves it unrouted, so it has no escalation row)
[ "$(sql "SELECT a.level FROM alert_ack a JOIN alert_event e ON e.id = a.alert_id WHERE e.job = 'esc' AND a.escalate IS NOT NULL")" = 1 ] \
  || fail "escalation level: $(sql 'SELECT * FROM alert_ack')"
[ "$(count "$dir/w.log" 'select(.path == "/wecom")')" = 1 ] || fail "escalated more than once: $(grep wecom "$dir/w.log")"

# ---- acknowledging stops escalation: esc2 reaches level 1, is acknowledged,
# and its level 2 (due 5 s later) never goes out
lead() { [ "$(count "$dir/w.log" 'select(.path == "/lead" and .body.text != null)')" -ge 1 ]; }
sc_wait_until 40 lead || fail "esc2 did not escalate: $(sql "SELECT * FROM alert_ack")"
e2=$(sql "SELECT a.alert_id FROM alert_ack a JOIN alert_event e ON e.id = a.alert_id WHERE e.job = 'esc2' AND a.escalate IS NOT NULL")
sql "INSERT INTO alert_ack (alert_id, acked_at, acked_by) VALUES ($e2, UTC_TIMESTAMP(3), 'test')
     ON DUPLICATE KEY UPDATE acked_at = UTC_TIMESTAMP(3), acked_by = 'test'"
past_due() { [ "$(sql "SELECT COUNT(*) FROM alert_ack WHERE alert_id = $e2 AND escalate_at < UTC_TIMESTAMP(3) - INTERVAL 3 SECOND")" = 1 ]; }
sc_wait_until 30 past_due || fail "esc2's level 2 never came due: $(sql "SELECT * FROM alert_ack WHERE alert_id = $e2")"
[ "$(sql "SELECT level FROM alert_ack WHERE alert_id = $e2")" = 1 ] || fail "esc2 escalated after the acknowledgement"
[ "$(count "$dir/w.log" 'select(.path == "/head")')" = 0 ] || fail "level 2 was notified after the acknowledgement"
# Recovery: the resolve reaches the job's channel and the level-1 receiver
# that was called in; level 2, never reached, hears nothing.
touch "$dir/ok2"
resolved2() {
  [ "$(count "$dir/w.log" 'select(.path == "/esc2" and .body.event == "resolve")')" -ge 1 ] &&
  [ "$(count "$dir/w.log" 'select(.path == "/lead" and (.body.text | test("RESOLVE failed: job esc2")))')" -ge 1 ]
}
sc_wait_until 30 resolved2 || fail "esc2's resolve: $(grep -e esc2 -e lead "$dir/w.log" | tail -5)"
[ "$(count "$dir/w.log" 'select(.path == "/head")')" = 0 ] || fail "the never-reached level 2 got the resolve"
[ "$(count "$dir/w.log" 'select(.path == "/lead" and (.body.text | test("RESOLVE")))')" = 1 ] || fail "the resolve reached level 1 more than once"

# ---- acknowledgement by the link in a notice; reminders stop
link_seen() { [ "$(count "$dir/w.log" 'select(.path == "/ack" and (.body.ack_url | type) == "string")')" -ge 1 ]; }
sc_wait_until 40 link_seen || fail "no notice with an ack_url: $(grep '"/ack"' "$dir/w.log")"
link=$(lines "$dir/w.log" | jq -r 'select(.path == "/ack") | .body.ack_url' | head -1)
aid=$(lines "$dir/w.log" | jq -r 'select(.path == "/ack") | .body.alert_id' | head -1)
case "$link" in "http://127.0.0.1:$cport/api/v1/alerts/ack?token=$aid."*) ;; *) fail "ack link: $link" ;; esac
# A token for another alert, or altered, is refused.
code=$(curl -s -o /dev/null -w '%{http_code}' "${link%?}x")
[ "$code" = 403 ] || fail "a tampered link answered $code"
forged=$(echo "$link" | sed "s/token=$aid\./token=$((aid + 1))./")
code=$(curl -s -o /dev/null -w '%{http_code}' "$forged")
[ "$code" = 403 ] || fail "a link moved to another alert answered $code"
# Opening the link (what a chat app's preview does too) only asks to confirm.
page=$(curl -s -H 'Accept: text/html' -w ' %{http_code}' "$link")
[ "${page##* }" = 200 ] && echo "$page" | grep -q "<form method=post action=\"ack?token=$aid\." \
  || fail "the link's page: $page"
[ "$(sql "SELECT COUNT(*) FROM alert_ack WHERE alert_id = $aid AND acked_at IS NOT NULL")" = 0 ] \
  || fail "opening the link acknowledged the alert"
out=$(curl -s -X POST -w ' %{http_code}' "$link")
[ "${out##* }" = 200 ] && echo "${out% *}" | jq -e ".alert_id == $aid and .acknowledged == true and .by == \"link\"" >/dev/null \
  || fail "ack by link: $out"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "${link%?}x")
[ "$code" = 403 ] || fail "a POST of a tampered link answered $code"
[ "$(sql "SELECT COUNT(*) FROM alert_ack WHERE alert_id = $aid AND acked_at IS NOT NULL")" = 1 ] || fail "ack not recorded"
mark=$(sql "SELECT IFNULL(MAX(id), 0) FROM alert_outbox")
suppressed() { [ "$(sql "SELECT COUNT(*) FROM alert_outbox WHERE alert_id = $aid AND id > $mark AND event = 'reminder' AND state = 'suppressed'")" -ge 1 ]; }
sc_wait_until 30 suppressed || fail "reminders not suppressed: $(sql "SELECT id, event, state FROM alert_outbox WHERE alert_id = $aid")"
n1=$(count "$dir/w.log" "select(.path == \"/ack\" and .body.alert_id == $aid)")
more() { [ "$(sql "SELECT COUNT(*) FROM alert_outbox WHERE alert_id = $aid AND id > $mark AND event = 'reminder' AND state = 'suppressed'")" -ge 3 ]; }
sc_wait_until 30 more || fail "reminders stopped being decided"
[ "$(count "$dir/w.log" "select(.path == \"/ack\" and .body.alert_id == $aid)")" = "$n1" ] || fail "a reminder reached the receiver after the acknowledgement"
[ "$(sql "SELECT COUNT(*) FROM alert_outbox WHERE alert_id = $aid AND id > $mark AND state = 'sent'")" = 0 ] \
  || fail "reminders sent after the acknowledgement: $(sql "SELECT id, event, state FROM alert_outbox WHERE alert_id = $aid")"

# ---- the console's routes: sessions and roles
base=http://127.0.0.1:$cport/api/v1
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base/alerts/$aid/ack")
[ "$code" = 401 ] || fail "ack without a session answered $code"
csrf=$(curl -s -c "$dir/jar" -H 'Content-Type: application/json' -d '{"username":"admin","password":"pw-admin-12345"}' "$base/login" | jq -r .csrf)
[ -n "$csrf" ] && [ "$csrf" != null ] || fail "login"
fid=$(sql "SELECT id FROM alert_event WHERE job = 'fei' AND resolved_at IS NULL LIMIT 1")
out=$(curl -s -b "$dir/jar" -H "X-CSRF-Token: $csrf" -H 'Content-Type: application/json' -d '{"minutes":5}' "$base/alerts/$fid/silence")
echo "$out" | jq -e ".alert_id == $fid and .silenced_s == 300 and .by == \"admin\"" >/dev/null || fail "silence: $out"
[ "$(sql "SELECT silenced_until > UTC_TIMESTAMP() + INTERVAL 200 SECOND FROM alert_ack WHERE alert_id = $fid")" = 1 ] || fail "silence not recorded"
out=$(curl -s -b "$dir/jar" -H "X-CSRF-Token: $csrf" -H 'Content-Type: application/json' -d '{"minutes":0}' "$base/alerts/$fid/silence")
echo "$out" | jq -e '.field == "minutes"' >/dev/null || fail "silence of 0 minutes: $out"
code=$(curl -s -o "$dir/body" -w '%{http_code}' -b "$dir/jar" -H "X-CSRF-Token: $csrf" -X POST "$base/alerts/999999/ack")
[ "$code" = 404 ] || fail "ack of no alert answered $code: $(cat "$dir/body")"
eid=$(sql "SELECT a.alert_id FROM alert_ack a JOIN alert_event e ON e.id = a.alert_id WHERE e.job = 'esc' AND a.escalate IS NOT NULL")
out=$(curl -s -b "$dir/jar" -H "X-CSRF-Token: $csrf" -X POST "$base/alerts/$eid/ack")
echo "$out" | jq -e ".alert_id == $eid and .acknowledged == true" >/dev/null || fail "ack: $out"

ev=$(curl -s -b "$dir/jar" "$base/alerts/events")
echo "$ev" | jq -e ".alerts | (map(select(.id == $eid))[0].acked_by == \"admin\") and
  (map(select(.id == $fid))[0].silenced_until | type == \"string\") and
  (map(select(.id == $aid))[0].acked_by == \"link\")" >/dev/null || fail "alerts/events: $ev"
# A viewer sees no channel URL or plain secret.
echo "pw-viewer-12345" >"$dir/viewer.pw"; chmod 600 "$dir/viewer.pw"
ctl user add viewer --role viewer --password-file "$dir/viewer.pw" >/dev/null || fail "user add viewer"
curl -s -c "$dir/vjar" -H 'Content-Type: application/json' -d '{"username":"viewer","password":"pw-viewer-12345"}' "$base/login" >/dev/null
out=$(curl -s -b "$dir/vjar" "$base/jobs/dingbad")
echo "$out" | jq -e '.job.alert.channels[0].url == "(redacted)" and .job.alert.channels[0].secret == "(redacted)" and
  (.redacted | index("alert.channels"))' >/dev/null || fail "viewer's view of dingbad: $out"
echo "$out" | grep -q "SECwrong\|access_token" && fail "a viewer sees a channel secret: $out"

it_stop_agents
it_sanitizers
! grep -q "runtime error:\|ERROR: AddressSanitizer\|ERROR: LeakSanitizer" "$dir/console.log" \
  || fail "sanitizer report in the console: $(grep -A20 ERROR "$dir/console.log")"
echo ok
