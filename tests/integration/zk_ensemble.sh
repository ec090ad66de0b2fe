#!/usr/bin/env bash
# tests/integration/zk_ensemble.sh: scripts/zk runs a 3-node ensemble on loopback,
# keeps serving with one node down, and restarts that node on its old port.
set -euo pipefail
fail() { echo "FAIL: $*" >&2; exit 1; }
. "$SC_ROOT/scripts/lib.sh"
dir=$(mktemp -d "$SC_TEST_TMP/ens.XXXX")
trap '"$SC_ROOT/scripts/zk" stop "$dir"' EXIT
out=$("$SC_ROOT/scripts/zk" start "$dir" --nodes 3 --tick 200)
conn=${out#ZK=}
[ "$(echo "$conn" | tr ',' '\n' | wc -l)" = 3 ] || fail "connect string '$conn'"
modes=$("$SC_ROOT/scripts/zk" status "$dir" | awk '{print $3}' | sort | tr '\n' ' ')
[ "$modes" = "follower follower leader " ] || fail "modes: $modes"
leader=$("$SC_ROOT/scripts/zk" status "$dir" | awk '$3=="leader"{print substr($1,5)}')
"$SC_ROOT/scripts/zk" stop "$dir" --node "$leader"
# The two survivors elect a new leader (observable state, bounded wait).
# (capture first: grep -q closing the pipe early would fail the pipeline under pipefail)
status() { "$SC_ROOT/scripts/zk" status "$dir"; }
has_leader() { local s; s=$(status); [[ $s == *" leader"* ]]; }
sc_wait_until 30 has_leader || fail "no new leader after stopping node $leader"
[[ $(status) == *"node$leader 127.0.0.1:"*" down"* ]] || fail "node $leader not down"
out2=$("$SC_ROOT/scripts/zk" start "$dir")
[ "${out2#ZK=}" = "$conn" ] || fail "restart changed ports: $out2 vs $conn"
all_up() { local s; s=$(status); [[ $s != *" down"* ]]; }
sc_wait_until 30 all_up || fail "node $leader did not come back"
"$SC_ROOT/scripts/zk" stop "$dir"
pgrep -f "$dir/node" >/dev/null && fail "processes left after stop"
echo ok
