#!/usr/bin/env bash
# tests/integration/ctl_careless.sh: a careless operator against real ZooKeeper
# and MariaDB. Each case is a command line and what it must say (exit status,
# and a pattern its stderr must match): a namespace that does not exist is an
# error naming it and the ones that do, never an empty table; an unreachable
# ZooKeeper is one line, not a page of client internals; a directory as
# --config, an empty or directory password file and a password in the
# environment are refused naming the culprit. Then: a dry run of an unchanged
# export keeps the jobs it lists as invalid; the console's /health says
# "mysql": false, with the server's reason, when the password is wrong.
. "$SC_ROOT/tests/lib/it.sh"
[ -n "${CARELESS_TRACE:-}" ] && set -x
it_setup careless
cpid=
cleanup() {
  [ -n "$cpid" ] && kill "$cpid" 2>/dev/null && wait "$cpid" 2>/dev/null
  it_cleanup
}
trap cleanup EXIT

bin=$SC_BIN
echo '{"name":"one","cron":"0 0 1 * * ?","command":"true"}' | ctl job put - >/dev/null || fail "job put"
mkdir -p "$dir/adir"
: > "$dir/empty.pw"; chmod 600 "$dir/empty.pw"
printf 'zk = %s\nnamespace = %s\n' "$SC_TEST_ZK" "$ns" > "$dir/ok.conf"
closed=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

# case: name | exit status | stderr pattern (grep -E) | lines of stderr (0 = any) | command...
cases=(
  "missing namespace|1|namespace \"nope_$$\" does not exist in ZooKeeper at .*namespaces there: .*$ns|1|--zk $SC_TEST_ZK --namespace nope_$$ job list"
  "missing namespace, agents|1|namespace \"nope_$$\" does not exist|1|--zk $SC_TEST_ZK --namespace nope_$$ agents"
  "missing namespace, export|1|namespace \"nope_$$\" does not exist|1|--zk $SC_TEST_ZK --namespace nope_$$ export"
  "ZooKeeper unreachable|1|cannot reach ZooKeeper at 127.0.0.1:$closed within|1|--zk 127.0.0.1:$closed --namespace $ns job list"
  "a directory as --config|1|config: $dir/adir is a directory, not a file|0|--config $dir/adir job list"
  "an empty password file|2|$dir/empty.pw is empty|1|--config $dir/ok.conf --mysql ${SC_TEST_MYSQL%/*}/$db --mysql-password-file $dir/empty.pw db migrate"
  "a directory as password file|2|$dir/adir is a directory|1|--config $dir/ok.conf --mysql ${SC_TEST_MYSQL%/*}/$db --mysql-password-file $dir/adir db migrate"
  "the namespace from a config file|0||0|--config $dir/ok.conf job list"
)
for c in "${cases[@]}"; do
  IFS='|' read -r name want pat lines args <<<"$c"
  set +e
  # shellcheck disable=SC2086
  "$bin/shardcronctl" $args >"$dir/out" 2>"$dir/err"; rc=$?
  set -e
  [ "$rc" = "$want" ] || fail "$name: exit $rc, want $want: $(cat "$dir/err")"
  [ -z "$pat" ] || grep -Eq "$pat" "$dir/err" || fail "$name: stderr does not match /$pat/: $(cat "$dir/err")"
  [ "$lines" = 0 ] || [ "$(wc -l <"$dir/err")" = "$lines" ] || fail "$name: $(wc -l <"$dir/err") lines of stderr, want $lines: $(head -5 "$dir/err")"
done
grep -q '^one ' "$dir/out" || fail "job list from a config file did not list the job: $(cat "$dir/out")"

# a password in the environment is refused like the flag, not ignored
set +e
SHARDCRON_MYSQL_PASSWORD=hunter2 "$bin/shardcronctl" --config "$dir/ok.conf" job list >/dev/null 2>"$dir/err"; rc=$?
set -e
[ $rc = 1 ] || fail "SHARDCRON_MYSQL_PASSWORD: exit $rc"
grep -q 'SHARDCRON_MYSQL_PASSWORD: environment: secrets are only read from files; set SHARDCRON_MYSQL_PASSWORD_FILE' "$dir/err" \
  || fail "SHARDCRON_MYSQL_PASSWORD: $(cat "$dir/err")"

# export -> import dry run, unchanged, with a job whose config cannot be read
/usr/share/zookeeper/bin/zkCli.sh -server "$SC_TEST_ZK" create "/$ns/jobs/broken" '{"name":"broken","cron":"nope"}' >/dev/null 2>&1 \
  || fail "cannot create /$ns/jobs/broken"
ctl export >"$dir/exp.json" 2>"$dir/err" || fail "export: $(cat "$dir/err")"
jq -e '.invalid == ["broken"] and [.jobs[].name] == ["one"]' "$dir/exp.json" >/dev/null || fail "export: $(cat "$dir/exp.json")"
ctl import "$dir/exp.json" >"$dir/dry.json" 2>/dev/null
jq -e '.dry_run and .deleted == [] and .kept_invalid == ["broken"] and .unchanged == ["one"]' "$dir/dry.json" >/dev/null \
  || fail "dry run of an unchanged export: $(cat "$dir/dry.json")"
ctl import "$dir/exp.json" --confirm >"$dir/rep.json" 2>/dev/null || fail "import --confirm"
/usr/share/zookeeper/bin/zkCli.sh -server "$SC_TEST_ZK" stat "/$ns/jobs/broken" >/dev/null 2>&1 || fail "import deleted broken"

# the console with a wrong MySQL password: health says so
(umask 077; echo "not-the-password" >"$dir/wrong.pw")
SHARDCRON_CONSOLE_PORT_FILE=$dir/port "$bin/shardcron-console" --zk "$SC_TEST_ZK" --namespace "$ns" \
  --mysql "${SC_TEST_MYSQL%/*}/$db" --mysql-password-file "$dir/wrong.pw" --listen 127.0.0.1:0 \
  --web "$SC_ROOT/console/web" >"$dir/console.log" 2>&1 &
cpid=$!
sc_wait_until 20 test -s "$dir/port" || fail "console did not start: $(tail -5 "$dir/console.log")"
health() { curl -s "http://127.0.0.1:$(cat "$dir/port")/api/v1/health" >"$dir/health.json"; }
said_no() { health && jq -e '.mysql == false and (.mysql_error | test("Access denied"))' "$dir/health.json" >/dev/null; }
sc_wait_until 20 said_no || fail "health with a wrong password: $(cat "$dir/health.json")"
kill -TERM "$cpid"; wait "$cpid" || fail "console exit status $?"; cpid=
grep -q 'ERROR: \(Address\|Leak\)Sanitizer\|runtime error' "$dir/console.log" && fail "sanitizer report in the console log"
echo "ctl_careless: ok"
