#!/usr/bin/env bash
# tests/integration/dashboards.sh: the Grafana dashboards of conf/grafana/ and
# the Prometheus configuration of conf/prometheus/ against a real platform.
# Two agents and the console run as `make run` lays them out (work dirs under
# local/agents/<id>, the console's port in local/console/port), on the real
# ZooKeeper and MariaDB of tests/run-integration, with the sample jobs
# city-report and flaky-transfer firing; scripts/prom-targets writes the
# targets as `make run` does; Debian's prometheus runs the shipped
# prometheus.yml and rules.yml (only the intervals shortened to 1 s) on a free
# loopback port. Then every dashboard is a loadable Grafana dashboard, every
# metric name its panels, variables and the alerting rules read has series
# from this platform, every panel expression is valid PromQL and returns
# series, every rule evaluates, every shardcron_* name the platform writes is
# on some dashboard; executions were really recorded, the histograms agree
# with the counters and the mean start delay with history's; and a
# dashboard with a wrong name (or a missing one) fails the check, naming it.
. "$SC_ROOT/tests/lib/it.sh"
command -v prometheus >/dev/null || fail "prometheus is not installed (scripts/setup installs Debian's package)"
it_setup dash
check=$SC_ROOT/tests/lib/dashboards.py
"$SC_ROOT/scripts/grafana-dashboards" --check || fail "conf/grafana/ differs from what scripts/grafana-dashboards writes"
"$check" structure "$SC_ROOT"/conf/grafana/*.json || fail "a dashboard is not loadable (above)"

local_dir=$dir/local
ppid_="" cpid=""
dash_cleanup() {
  if [ -n "$ppid_" ]; then kill -TERM "$ppid_" 2>/dev/null; wait "$ppid_" 2>/dev/null || true; fi
  if [ -n "$cpid" ]; then kill -TERM "$cpid" 2>/dev/null; wait "$cpid" 2>/dev/null || true; fi
  it_cleanup
}
trap dash_cleanup EXIT

# ---- the platform, laid out as scripts/run-local does
for a in "a1:batch,zone-a" "a2:batch,zone-b"; do
  id=${a%%:*} d=$local_dir/agents/${a%%:*}
  mkdir -p "$d"
  "$SC_BIN/shardcron-agent" --zk "$SC_TEST_ZK" --namespace "$ns" --id "$id" --labels "${a#*:}" \
    --capacity 8 --session-timeout-ms 6000 --work-dir "$d" --http 127.0.0.1:0 \
    --mysql "$url" --mysql-password-file "$SC_TEST_MYSQL_PASSWORD_FILE" 2>"$d/log" &
  it_pids+=($!)
done
mkdir -p "$local_dir/console"
SHARDCRON_CONSOLE_PORT_FILE=$local_dir/console/port "$SC_BIN/shardcron-console" --zk "$SC_TEST_ZK" \
  --namespace "$ns" --mysql "$url" --mysql-password-file "$SC_TEST_MYSQL_PASSWORD_FILE" \
  --listen 127.0.0.1:0 --web "$SC_ROOT/console/web" 2>"$local_dir/console/log" &
cpid=$!
for f in "$local_dir"/agents/a1/http.port "$local_dir"/agents/a2/http.port "$local_dir"/console/port; do
  sc_wait_until 30 test -s "$f" || fail "$f was not written (a daemon did not start)"
done
for j in city-report flaky-transfer; do ctl job put "$SC_ROOT/conf/samples/$j.json" >/dev/null; done
"$SC_ROOT/scripts/prom-targets" "$local_dir" "$ns"
[ "$(jq length "$local_dir/prometheus/agents.json")" = 2 ] || fail "agents.json: $(cat "$local_dir/prometheus/agents.json")"

# ---- Prometheus on the shipped configuration: its relative file_sd paths
# (../../local/prometheus/) resolve the same from $dir/conf/prometheus.
mkdir -p "$dir/conf/prometheus"
sed -e 's/^\(  scrape_interval:\).*/\1 1s/' -e 's/^\(  scrape_timeout:\).*/\1 1s/' \
  -e 's/^\(  evaluation_interval:\).*/\1 1s/' \
  "$SC_ROOT/conf/prometheus/prometheus.yml" > "$dir/conf/prometheus/prometheus.yml"
cp "$SC_ROOT/conf/prometheus/rules.yml" "$dir/conf/prometheus/"
grep -q '^  scrape_interval: 1s$' "$dir/conf/prometheus/prometheus.yml" || fail "scrape_interval not found in prometheus.yml"
promtool check config "$dir/conf/prometheus/prometheus.yml" >/dev/null || fail "promtool check config"
pport=$(sc_free_port)
prom=http://127.0.0.1:$pport
prometheus --config.file="$dir/conf/prometheus/prometheus.yml" --storage.tsdb.path="$dir/prometheus-data" \
  --web.listen-address="127.0.0.1:$pport" --log.level=warn >"$dir/prometheus.log" 2>&1 &
ppid_=$!
sc_wait_until 30 curl -fsS "$prom/-/ready" || fail "prometheus did not get ready: $(tail -5 "$dir/prometheus.log")"

# Every target scraped and up: three (two agents, the console), named as the
# file_sd files say.
targets_up() {
  curl -fsS "$prom/api/v1/targets" | jq -e --arg ns "$ns" '[.data.activeTargets[] |
    select(.labels.namespace == $ns and .health == "up")] | map(.labels.instance) | sort == ["a1","a2","console"]'
}
sc_wait_until 30 targets_up || fail "targets not up: $(curl -fsS "$prom/api/v1/targets" | jq -c '[.data.activeTargets[] | {instance: .labels.instance, health, lastError}]')"
# Real data: the sample jobs ran, cron start delays were recorded and the
# failing sample failed (city-report fires every 5 s, flaky-transfer every 7 s
# and fails its third run).
value() { curl -fsS "$prom/api/v1/query" --data-urlencode "query=$1" | jq -r '.data.result[0].value[1] // "0"'; }
ran() {
  [ "$(value "sum(shardcron_agent_executions_finished_total{namespace=\"$ns\"})")" -ge 4 ] &&
  [ "$(value "sum(shardcron_agent_start_delay_seconds_count{namespace=\"$ns\"})")" -ge 4 ] &&
  [ "$(value "sum(shardcron_agent_executions_failed_total{namespace=\"$ns\"})")" -ge 1 ] &&
  [ "$(value "sum(shardcron_agent_leader{namespace=\"$ns\"})")" = 1 ]
}
sc_wait_until 45 ran || fail "no executions seen through prometheus: finished $(value "sum(shardcron_agent_executions_finished_total{namespace=\"$ns\"})"), failed $(value "sum(shardcron_agent_executions_failed_total{namespace=\"$ns\"})"), leaders $(value "sum(shardcron_agent_leader{namespace=\"$ns\"})")"
# The histograms count what the counters count (each agent's figures come
# from one scrape): a duration for every finished run, a start delay for cron
# starts only; the mean delay is a delay (seconds, from the fire's own
# second), not a date or milliseconds.
sel="{namespace=\"$ns\"}"
d=$(value "sum(shardcron_agent_execution_duration_seconds_count$sel) - sum(shardcron_agent_executions_finished_total$sel)")
[ "$d" = 0 ] || fail "execution time histogram counts $d runs more than finished"
d=$(value "sum(shardcron_agent_executions_started_total$sel) - sum(shardcron_agent_start_delay_seconds_count$sel)")
[ "$d" -ge 0 ] || fail "start delays counted for $((-d)) more starts than started"
mean=$(value "sum(shardcron_agent_start_delay_seconds_sum$sel) / sum(shardcron_agent_start_delay_seconds_count$sel)")
# History has the same starts (a row's started_at against its fire_time):
# the two means agree to within what the rows not yet written can move it.
dbmean=$(sql "SELECT AVG(TIMESTAMPDIFF(MICROSECOND, fire_time, started_at)) / 1e6 FROM job_execution
              WHERE trigger_type = 'cron' AND started_at IS NOT NULL")
echo "mean start delay: $mean s (/metrics), $dbmean s (history)"
awk -v v="$mean" -v h="${dbmean:-x}" 'BEGIN { d = v - h; if (d < 0) d = -d; exit !(v >= 0 && h != "x" && d < 0.05 + h / 2) }' ||
  fail "mean start delay $mean s on /metrics, $dbmean s in history"
# The console times its replies: at least the scrapes before the last.
n=$(value "sum(shardcron_console_request_duration_seconds_count$sel)")
r=$(value "sum(shardcron_console_requests_total$sel)")
[ "$n" -ge 2 ] && [ "$n" -le "$r" ] || fail "console reply times counted $n of $r requests"

# ---- every series the dashboards and rules read exists; every panel answers.
# A rate needs two samples in its 5 s window, and rules one evaluation: poll.
out=""
dash_ok() { out=$("$check" series "$prom" "$ns" "$SC_ROOT"/conf/grafana/*.json 2>&1); }
sc_wait_until 20 dash_ok || fail "dashboards against prometheus:
$out"
echo "$out"

# ---- the check can fail: a dashboard naming a metric nobody writes.
jq '(.panels[] | select(.title == "Running and queued by agent") | .targets[0].expr) |=
    sub("shardcron_agent_running"; "shardcron_agent_runing")' "$SC_ROOT/conf/grafana/agents.json" > "$dir/bad.json"
if bad=$("$check" series "$prom" "$ns" "$dir/bad.json" 2>&1); then fail "a misspelt metric passed: $bad"; fi
echo "$bad" | grep -q "panel 'Running and queued by agent' target A: no series shardcron_agent_runing" ||
  fail "the fault does not name the panel and the series: $bad"
# ... and one dashboard alone leaves the console's names uncharted.
echo "$bad" | grep -q "^shardcron_console_requests_total is on /metrics but on no dashboard" ||
  fail "uncharted names not reported: $bad"
jq '.panels[3].id = .panels[2].id | del(.panels[4].datasource)' "$SC_ROOT/conf/grafana/agents.json" > "$dir/bad2.json"
if bad=$("$check" structure "$dir/bad2.json"); then fail "a repeated id and a missing datasource passed"; fi
[ "$(echo "$bad" | wc -l)" -ge 2 ] || fail "structure faults: $bad"

kill -TERM "$ppid_"; wait "$ppid_" || fail "prometheus exited with $?"; ppid_=""
kill -TERM "$cpid"; wait "$cpid" || fail "console exited with $?"; cpid=""
it_stop_agents
if grep -l "runtime error:\|ERROR: AddressSanitizer\|ERROR: LeakSanitizer" "$local_dir"/agents/*/log "$local_dir/console/log"; then
  fail "sanitizer report"
fi
echo ok
