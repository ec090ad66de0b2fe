#!/usr/bin/env bash
# tests/integration/console_http.sh: the console's HTTP layer under hostile and
# careless input, against the real ZooKeeper and MariaDB of tests/run-integration:
# request smuggling shapes and size limits refused before routing with JSON errors
# (tests/data/http_cases), the API's validation of NUL, UTF-8, repeated keys,
# oversized jobs and query parameters (tests/data/api_cases), a slow header and a
# slow body cut off at fixed deadlines, pipelined requests, the caps on
# connections and buffered bytes per address and in total, accept() out of
# descriptors (paused, logged once, recovers), shardcronctl job put and import
# refusing the same documents, and a clean SIGTERM without sanitizer reports.
# Raw requests go through tests/lib/httpraw.py.
set -euo pipefail
fail() { echo "FAIL: $*" >&2; [ -n "${clog:-}" ] && tail -20 "$clog" >&2; exit 1; }
bin=${SC_BIN:?}
pwf=$SC_TEST_MYSQL_PASSWORD_FILE
base=${SC_TEST_MYSQL%/*}
db=shardcron_http_$$
ns=http_$$
tmp=$(mktemp -d "$SC_TEST_TMP/http.XXXX")
clog=$tmp/console.log
raw() { python3 "$SC_ROOT/tests/lib/httpraw.py" "$@"; }
client() { "$SC_ROOT/scripts/mysql" client "$SC_TEST_MYSQL_DIR" "$@"; }
cpid="" c2pid=""
cleanup() {
  [ -n "$cpid" ] && kill "$cpid" 2>/dev/null || true
  [ -n "$c2pid" ] && kill "$c2pid" 2>/dev/null || true
  client -e "DROP DATABASE IF EXISTS $db" || true
}
trap cleanup EXIT
. "$SC_ROOT/scripts/lib.sh"
ctl() { "$bin/shardcronctl" --zk "$SC_TEST_ZK" --namespace "$ns" "$@"; }

client -e "CREATE DATABASE $db"
client "$db" < "$SC_ROOT/sql/schema.sql"
echo "pw-admin-12345" > "$tmp/admin.pw"; chmod 600 "$tmp/admin.pw"

# ---- the console: small caps so that the tests reach them
SHARDCRON_CONSOLE_PORT_FILE=$tmp/port "$bin/shardcron-console" --zk "$SC_TEST_ZK" --namespace "$ns" \
  --mysql "$base/$db" --mysql-password-file "$pwf" --listen 127.0.0.1:0 \
  --admin-password-file "$tmp/admin.pw" --max-connections 60 --max-client-connections 8 \
  --max-client-buffered-mb 6 --max-buffered-mb 10 --header-timeout-s 2 --body-timeout-s 30 \
  >"$clog" 2>&1 &
cpid=$!
sc_wait_until 20 test -s "$tmp/port" || fail "console did not start"
port=$(cat "$tmp/port")
health_ok() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/v1/health")" = 200 ]; }
sc_wait_until 20 health_ok || fail "health never ok"

# ---- table-driven cases: raw requests refused before routing, then the API's
raw cases "$port" "$SC_ROOT/tests/data/http_cases" | tee "$tmp/http_cases.out"
grep -q '^[0-9]* passed, 0 failed$' "$tmp/http_cases.out" || fail "http_cases"
raw cases "$port" "$SC_ROOT/tests/data/api_cases" --login "admin:$tmp/admin.pw" | tee "$tmp/api_cases.out"
grep -q '^[0-9]* passed, 0 failed$' "$tmp/api_cases.out" || fail "api_cases"
# the oversized job was refused before writing: the ZooKeeper session never dropped
grep -q 'connection loss\|ZooKeeper session \(suspended\|lost\)' "$clog" && fail "the console's session dropped"
ctl job get huge >/dev/null 2>&1 && fail "the oversized job was written"
ctl job get large >/dev/null || fail "the job under the limit was not written"

# ---- deadlines that do not move with every byte, and pipelining
raw slowloris "$port" 2 || fail "a header line every 0.7 s was not cut off at 2 s"
raw pipeline "$port" || fail "pipelined requests"

# ---- caps on connections and buffered bytes, per address and in total
raw caps "$port" 8 6 10 || fail "caps"

# ---- shardcronctl refuses the same documents, naming the field
ctl_refuses() { # ctl_refuses FIELD-REGEX ARGS... (stdin: the document)
  local want=$1; shift
  set +e; err=$(ctl "$@" 2>&1); rc=$?; set -e
  [ $rc = 2 ] || fail "ctl $*: exit $rc, want 2 ($err)"
  echo "$err" | grep -q -- "$want" || fail "ctl $*: does not name $want: $err"
}
printf '{"name":"c1","cron":"@daily","command":"echo a\\u0000; rm -rf /"}' > "$tmp/nul.json"
ctl_refuses 'command: .*NUL' job put "$tmp/nul.json"
printf '{"name":"c1","cron":"@daily","command":"true","command":"rm -rf /"}' > "$tmp/dup.json"
ctl_refuses 'command: .*more than once' job put "$tmp/dup.json"
printf '{"name":"c1","cron":"@daily","command":"true","description":"caf\xe9"}' > "$tmp/utf8.json"
ctl_refuses 'description: .*UTF-8' job put "$tmp/utf8.json"
# under 1 MiB as a file (ElasticJob's "0=A,1=B" form), over 1,000,000 bytes stored
python3 -c 'import json; print(json.dumps({"name":"c1","cron":"@daily","command":"true","shards":10000,
  "shard_params":",".join("%d=%s" % (i, "x" * 95) for i in range(10000))}))' > "$tmp/huge.json"
ctl_refuses 'bytes as stored' job put "$tmp/huge.json"
printf '{"jobs":[{"name":"i1","cron":"@daily","command":"true"},{"name":"i2","cron":"@daily","command":"a\\u0000"}]}' > "$tmp/imp.json"
ctl_refuses 'jobs\[1\]\.command' import "$tmp/imp.json" --confirm
ctl job get c1 >/dev/null 2>&1 && fail "a refused job was written"
ctl job get i1 >/dev/null 2>&1 && fail "a job of a refused import was written"

# ---- the body deadline, and accept() out of descriptors: a second console with
# a small descriptor limit. It pauses accepting, says so once, and serves again
# once connections close.
clog2=$tmp/console2.log
(ulimit -n 64; exec env SHARDCRON_CONSOLE_PORT_FILE="$tmp/port2" "$bin/shardcron-console" \
  --zk "$SC_TEST_ZK" --namespace "$ns" --listen 127.0.0.1:0 --body-timeout-s 2 \
  --max-client-connections 1000 >"$clog2" 2>&1) &
c2pid=$!
sc_wait_until 20 test -s "$tmp/port2" || fail "second console did not start"
port2=$(cat "$tmp/port2")
raw slowbody "$port2" 2 || fail "a body that stopped was not cut off at 2 s"
python3 - "$port2" "$clog2" <<'PY' || fail "accept out of descriptors"
import socket, sys, time
port, log = int(sys.argv[1]), sys.argv[2]
socks = []
for _ in range(120):  # past the console's 64 descriptors
    s = socket.socket(); s.settimeout(5)
    s.connect(("127.0.0.1", port)); socks.append(s)
end = time.monotonic() + 20
while time.monotonic() < end:  # the console meets EMFILE and says it pauses
    with open(log, errors="replace") as f:
        if "pausing new connections" in f.read():
            break
    time.sleep(0.1)
else:
    sys.exit(2)
for s in socks: s.close()
end = time.monotonic() + 20
while time.monotonic() < end:  # then serves again
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        if s.recv(100).startswith(b"HTTP/1.1 "):
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.2)
sys.exit(1)
PY
n=$(grep -c 'pausing new connections' "$clog2" || true)
[ "$n" = 1 ] || fail "accept failure logged $n times, want once"
grep -q 'accepting connections again' "$clog2" || fail "no recovery in the log"
kill -TERM "$c2pid"; wait "$c2pid" || fail "second console exit status $?"; c2pid=""

# ---- clean shutdown
kill -TERM "$cpid"
set +e; wait "$cpid"; rc=$?; set -e; cpid=""
[ $rc = 0 ] || fail "console exit status $rc"
grep -q 'ERROR: \(Address\|Leak\)Sanitizer\|runtime error' "$clog" "$clog2" && fail "sanitizer report"
echo "console_http: ok"
