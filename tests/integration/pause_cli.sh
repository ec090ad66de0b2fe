#!/usr/bin/env bash
# tests/integration/pause_cli.sh: `shardcronctl pause add|list|delete` against
# real ZooKeeper, and a real agent that must see each window through its watch
# (docs/pauses.md). Bad windows are refused with exit 2 and an error naming the
# field; nothing already stored is touched by a refused write. Quick flags make
# a one-off window from now; SHARDCRON_JOB in the environment (every execution
# has it) must not turn into a scope.
. "$SC_ROOT/tests/lib/it.sh"
it_setup pausecli

# wait_for CMD...: run until it succeeds, at most 15 s
wait_for() { sc_wait_until 15 "$@"; }

it_agent a1
# the agent's namespace exists once it has registered
wait_for ctl agents >/dev/null 2>&1 || fail "agent never registered"

now=$(date +%s)
cat > "$dir/w1.json" <<JSON
{"id":"nightly","scope":{"labels":["batch"]},"cron":"0 30 23 * * ?","duration_s":3600,
 "timezone":"Asia/Shanghai","action":"defer","reason":"ledger close"}
JSON
ctl pause add "$dir/w1.json" >"$dir/out" || fail "pause add FILE: $(cat "$dir/out")"
grep -q '^pause window nightly created: defer labels batch, every "0 30 23 \* \* ?" for 3600 s (Asia/Shanghai)$' "$dir/out" \
  || fail "pause add FILE said: $(cat "$dir/out")"
wait_for grep -q 'pause window nightly: defer labels batch: ledger close' "$dir/a1/log" \
  || fail "the agent never read window nightly"

# bad windows: exit 2, the field named, nothing stored
cases=(
  'bad cron|"cron":"0 0 25 * * ?","duration_s":60|cron: hour'
  'ends before it starts|"from":"2026-12-08 06:00:00","to":"2026-12-08 05:00:00"|to: the window ends \(2026-12-08 05:00:00\) before it starts'
  'no when|"action":"skip"|from: missing'
)
for c in "${cases[@]}"; do
  IFS='|' read -r name body pat <<<"$c"
  set +e
  echo "{\"id\":\"bad\",\"scope\":{\"all\":true},$body,\"reason\":\"r\"}" | ctl pause add - >/dev/null 2>"$dir/err"; rc=$?
  set -e
  [ $rc = 2 ] || fail "$name: exit $rc, want 2"
  grep -Eq "invalid pause window: $pat" "$dir/err" || fail "$name: $(cat "$dir/err")"
done
set +e
echo '{"id":"bad","scope":{"team":"x"},"from":"@1","to":"@2"}' | ctl pause add - 2>"$dir/err"; rc=$?
set -e
[ $rc = 2 ] && grep -q 'scope.team: unknown scope' "$dir/err" || fail "unknown scope key: $rc $(cat "$dir/err")"
set +e
echo '{"id":"bad","scope":{"all":true},"from":"@1","to":"@2"}' | ctl pause add - 2>"$dir/err"; rc=$?
set -e
[ $rc = 2 ] && grep -q 'reason: is required' "$dir/err" || fail "missing reason: $rc $(cat "$dir/err")"
set +e
ctl pause add --domain fin --reason x 2>"$dir/err"; rc=$?
set -e
[ $rc = 2 ] && grep -q -- '--for or --to: missing' "$dir/err" || fail "quick flags without an end: $rc $(cat "$dir/err")"

# quick flags, with SHARDCRON_JOB set as inside a job
SHARDCRON_JOB=some-job ctl pause add --domain fin --for 30m --reason "db upgrade" --pause-id fin-up >"$dir/out" \
  || fail "pause add --domain: $(cat "$dir/out")"
grep -q '^pause window fin-up created: skip domain fin from ' "$dir/out" || fail "quick add said: $(cat "$dir/out")"
ctl pause list --format json >"$dir/list.json"
python3 - "$dir/list.json" "$now" <<'PY' || fail "pause list --format json: $(cat "$dir/list.json")"
import json, sys
ws = {w["id"]: w for w in json.load(open(sys.argv[1]))}
now = int(sys.argv[2])
assert set(ws) == {"nightly", "fin-up"}, ws.keys()
f = ws["fin-up"]
assert f["scope"] == {"domain": "fin"} and f["action"] == "skip" and f["reason"] == "db upgrade", f
assert f["state"] == "active" and now + 1790 <= f["active_until"] <= now + 1900, f
assert ws["nightly"]["state"] in ("active", "upcoming") and ws["nightly"]["duration_s"] == 3600
PY
ctl pause list >"$dir/list.txt"
grep -Eq '^fin-up +skip +domain fin +.*active +db upgrade$' "$dir/list.txt" || fail "pause list: $(cat "$dir/list.txt")"
wait_for grep -q 'pause window fin-up: skip domain fin: db upgrade' "$dir/a1/log" || fail "the agent never read fin-up"

# add again with the same id: an update the agent sees too
SHARDCRON_JOB=some-job ctl pause add --domain fin --for 1h --reason "db upgrade, longer" --pause-id fin-up >"$dir/out"
grep -q 'fin-up updated' "$dir/out" || fail "re-add said: $(cat "$dir/out")"
wait_for grep -q 'pause window fin-up: skip domain fin: db upgrade, longer' "$dir/a1/log" || fail "the agent missed the update"

ctl pause delete fin-up >"$dir/out" && grep -q 'pause window fin-up deleted' "$dir/out" || fail "delete: $(cat "$dir/out")"
wait_for grep -q 'pause window fin-up deleted' "$dir/a1/log" || fail "the agent never saw the delete"
set +e
ctl pause delete fin-up 2>"$dir/err"; rc=$?
set -e
[ $rc = 1 ] && grep -q 'no pause window fin-up' "$dir/err" || fail "second delete: $rc $(cat "$dir/err")"
[ "$(ctl pause list --format json | python3 -c 'import json,sys; print([w["id"] for w in json.load(sys.stdin)])')" = "['nightly']" ] \
  || fail "after delete: $(ctl pause list)"

it_stop_agents
it_sanitizers
echo "pause_cli: ok"
