#!/usr/bin/env bash
# tests/integration/workflow_web.sh: the workflow pages in headless Chromium
# (tests/browser/workflow.test.mjs) against a real console, ZooKeeper, MariaDB
# and a real agent whose coordination leader runs the workflow driver: a run
# triggered from the list's form followed to its end on the graph, a failed
# task cleared and run again, a cycle typed into the editor, a version
# conflict, the backfill dry run's logical times, the grid and the run page.
# Skipped (exit 0, saying so) without Chromium, playwright-core or vendor/.
. "$SC_ROOT/tests/lib/it.sh"
it_setup wfweb

web=$SC_ROOT/console/web
pw=$web/node_modules/playwright-core
if ! [ -x /usr/bin/chromium ] || ! [ -d "$pw" ] || ! [ -f "$web/vendor/dagre.min.js" ] ||
  ! [ -f "$web/vendor/uPlot.iife.min.js" ]; then
  echo "SKIP workflow_web: run scripts/setup (needs /usr/bin/chromium, console/web/node_modules, vendor/)"
  exit 0
fi

it_agent w1 --session-timeout-ms 2000
echo '{"name":"wfjob","command":"true","shards":2}' | ctl job put - >/dev/null || fail "job put"
led() { ctl agents --format json | jq -e '.[0].leader' >/dev/null; }
sc_wait_until 30 led || fail "the agent never led"

echo "pw-admin-12345" >"$dir/admin.pw"
chmod 600 "$dir/admin.pw"
SHARDCRON_CONSOLE_PORT_FILE=$dir/port "$SC_BIN/shardcron-console" --zk "$SC_TEST_ZK" --namespace "$ns" --mysql "$url" \
  --mysql-password-file "$SC_TEST_MYSQL_PASSWORD_FILE" --listen 127.0.0.1:0 --web "$web" \
  --admin-password-file "$dir/admin.pw" >"$dir/console.log" 2>&1 &
cpid=$!
it_pids+=($cpid)
sc_wait_until 20 test -s "$dir/port" || { tail "$dir/console.log"; fail "the console did not start"; }
port=$(cat "$dir/port")

# the pages' pure parts (order, cycles, checks, both layouts) under node first
WEB=$web node --test --test-reporter=spec "$SC_ROOT/tests/browser/wf_layout.test.mjs" || fail "wf_layout tests"

art=$SC_ROOT/build/test-artifacts/workflow
mkdir -p "$art"
CONSOLE_URL=http://127.0.0.1:$port ADMIN_PASSWORD=pw-admin-12345 PLAYWRIGHT_CORE=$pw ARTIFACTS=$art \
  WORKDIR=$dir node --test --test-reporter=spec "$SC_ROOT/tests/browser/workflow.test.mjs" ||
  { tail -20 "$dir/console.log" >&2; fail "workflow browser tests"; }
echo "browser screenshots: $art"

it_stop_agents
grep -l "runtime error:\|ERROR: AddressSanitizer\|ERROR: LeakSanitizer" "$dir/console.log" && fail "sanitizer report (console)"
it_sanitizers
echo "workflow_web: ok"
