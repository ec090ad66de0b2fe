#!/usr/bin/env bash
# tests/integration/zk_chroot.sh: a connect string whose chroot does not exist
# yet ("host:port/team/a", issue 12 item 7): shardcronctl creates it to write
# a job, an agent started on it registers, owns the item and runs it (the
# job's own file shows the runs), and both say they created the path.
. "$SC_ROOT/tests/lib/it.sh"
it_setup chroot
chroot_zk="$SC_TEST_ZK/chr_$$/team/a"
zctl() { "$SC_BIN/shardcronctl" --zk "$chroot_zk" --namespace "$ns" "$@"; }

cat > "$dir/job.json" <<JOB
{"name":"chr","cron":"* * * * * ?","shards":1,"command":"date +%s >> $dir/runs"}
JOB
out=$(zctl job put "$dir/job.json" 2>&1) || fail "job put under a missing chroot: $out"
echo "$out" | grep -q 'created the ZooKeeper chroot /chr_'"$$"'/team/a' ||
  fail "shardcronctl did not say it created the chroot: $out"

mkdir -p "$dir/c1"
"$SC_BIN/shardcron-agent" --zk "$chroot_zk" --namespace "$ns" --id c1 --work-dir "$dir/c1" \
  --http 127.0.0.1:0 --mysql "$url" --mysql-password-file "$SC_TEST_MYSQL_PASSWORD_FILE" \
  --session-timeout-ms 2000 2>"$dir/c1/log" &
it_pids+=($!)
ran() { [ -s "$dir/runs" ] && [ "$(wc -l < "$dir/runs")" -ge 2 ]; }
sc_wait_until 30 ran || fail "the job never ran under the chroot: $(tail -5 "$dir/c1/log")"
# The agent found the path there (shardcronctl made it): nothing to create.
grep -q 'registering /agents/c1: no node' "$dir/c1/log" && fail "the agent could not register"
[ "$(zctl job list --format json | grep -c '"chr"')" -ge 1 ] || fail "job list under the chroot"

# A second chroot made by the agent itself, first.
chroot2="$SC_TEST_ZK/chr2_$$/x"
mkdir -p "$dir/c2"
"$SC_BIN/shardcron-agent" --zk "$chroot2" --namespace "$ns" --id c2 --work-dir "$dir/c2" \
  --http 127.0.0.1:0 --mysql "$url" --mysql-password-file "$SC_TEST_MYSQL_PASSWORD_FILE" \
  --session-timeout-ms 2000 2>"$dir/c2/log" &
it_pids+=($!)
said() { grep -q "created the ZooKeeper chroot /chr2_$$/x" "$dir/c2/log"; }
sc_wait_until 30 said || fail "the agent did not create its chroot: $(tail -5 "$dir/c2/log")"
ready() { curl -s "http://127.0.0.1:$(cat "$dir/c2/http.port")/status" | grep -q '"ready":true'; }
sc_wait_until 30 ready || fail "the agent on a new chroot never became ready: $(tail -5 "$dir/c2/log")"
it_stop_agents
it_sanitizers
echo "ok"
