#!/usr/bin/env bash
# tests/integration/agent_secrets.sh: a job's "env" reaches its process, with
# {"secret": NAME} read on the agent from its secrets store (docs/jobs.md,
# "Secrets"): a directory store and a file store each give the job its value,
# which appears nowhere in ZooKeeper's copy of the job; a changed value reaches
# the next run without a restart; a secret that is not in the store leaves the
# fire not run, recorded failed with a reason naming the variable and the
# secret; an agent whose store group or others can read refuses to start,
# naming the path and the chmod.
. "$SC_ROOT/tests/lib/it.sh"
it_setup sec
mkdir -m 700 "$dir/store"
(umask 077; printf 'dir-value-1\n' > "$dir/store/db-password")
(umask 077; printf '# job secrets\napi-token=file value=2\n' > "$dir/secrets.env")

# A group-readable store stops the agent at start, with the fix in the message.
mkdir -m 750 "$dir/open"
set +e
err=$("$SC_BIN/shardcron-agent" --zk "$SC_TEST_ZK" --namespace "$ns" --id bad --work-dir "$dir/bad" \
  --secrets "$dir/open" 2>&1 >/dev/null); rc=$?
set -e
[ $rc = 2 ] || fail "agent with a group-readable store: exit $rc, want 2"
echo "$err" | grep -q "secrets: $dir/open is readable or writable by group or others (mode 750); chmod 700" ||
  fail "message: $err"

it_agent s1 --session-timeout-ms 2000 --secrets "$dir/store"
it_agent s2 --session-timeout-ms 2000 --secrets "$dir/secrets.env" --labels filestore
cat > "$dir/dirjob.json" <<JOB
{"name":"dirjob","cron":"* * * * * ?","command":"echo \"\$DB_USER:\$DB_PASSWORD\" > $dir/dirjob.out",
 "env":{"DB_USER":"batch","DB_PASSWORD":{"secret":"db-password"}}}
JOB
cat > "$dir/filejob.json" <<JOB
{"name":"filejob","cron":"* * * * * ?","labels":["filestore"],"command":"echo \"\$API_TOKEN\" > $dir/filejob.out",
 "env":{"API_TOKEN":{"secret":"api-token"}}}
JOB
cat > "$dir/nosecret.json" <<JOB
{"name":"nosecret","cron":"* * * * * ?","labels":["filestore"],"command":"touch $dir/nosecret.ran",
 "env":{"TOKEN":{"secret":"not-there"}}}
JOB
for j in dirjob filejob nosecret; do ctl job put "$dir/$j.json" >/dev/null || fail "job put $j"; done

has() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }
sc_wait_until 30 has "$dir/dirjob.out" "batch:dir-value-1" || fail "dirjob saw: $(cat "$dir/dirjob.out" 2>&1)"
sc_wait_until 30 has "$dir/filejob.out" "file value=2" || fail "filejob saw: $(cat "$dir/filejob.out" 2>&1)"
ctl job get dirjob | grep -q "dir-value" && fail "the secret's value is in the stored job"
ctl job get dirjob | grep -q '"secret":[[:space:]]*"db-password"' || fail "the stored job lost its secret reference: $(ctl job get dirjob)"

# Rotation: the next run reads the new value.
(umask 077; printf 'dir-value-2\n' > "$dir/store/db-password.new"); mv "$dir/store/db-password.new" "$dir/store/db-password"
sc_wait_until 30 has "$dir/dirjob.out" "batch:dir-value-2" || fail "rotated value not used: $(cat "$dir/dirjob.out")"

# A secret that is not there: not run, recorded failed with the reason.
refused() {
  [ "$(sql "SELECT COUNT(*) FROM job_execution WHERE job='nosecret' AND status='failed'
            AND error LIKE 'could not start: env.TOKEN: secrets: no secret \"not-there\"%'")" -ge 1 ]
}
sc_wait_until 30 refused || fail "nosecret rows: $(sql "SELECT status, error FROM job_execution WHERE job='nosecret' LIMIT 3")"
[ ! -e "$dir/nosecret.ran" ] || fail "a job ran without its secret"
it_stop_agents
it_sanitizers
echo "agent_secrets: ok"
