#!/usr/bin/env bash
# tests/integration/ctl_export_import.sh: shardcronctl export -> delete all ->
# import round trip against a real ZooKeeper; a dry run changes nothing; an
# invalid document is refused whole, naming the job and field.
set -euo pipefail
fail() { echo "FAIL: $*" >&2; exit 1; }
dir=$(mktemp -d "$SC_TEST_TMP/port.XXXX")
ctl() { "$SC_BIN/shardcronctl" --zk "$SC_TEST_ZK" --namespace "it_port_$$" "$@"; }
for f in "$SC_ROOT"/conf/samples/*.json; do ctl job put "$f" >/dev/null; done
ctl export > "$dir/a.json"
jobs_of() { sed -n '/"jobs"/,/"invalid"/p' "$1" | grep -v exported_at; }
want=$(ls "$SC_ROOT"/conf/samples/*.json | wc -l)
[ "$(grep -c '"cron":' "$dir/a.json")" = "$want" ] || fail "export did not hold the $want sample jobs"
for n in $(ctl job list | awk 'NR>1{print $1}'); do ctl job delete "$n" >/dev/null; done
[ "$(ctl job list | wc -l)" = 1 ] || fail "jobs left after deleting all"
ctl import "$dir/a.json" > "$dir/dry.json" 2>/dev/null
grep -q '"dry_run":[[:space:]]*true' "$dir/dry.json" || fail "not a dry run"
[ "$(ctl job list | wc -l)" = 1 ] || fail "a dry run changed the namespace"
ctl import "$dir/a.json" --confirm > "$dir/rep.json"
ctl export > "$dir/b.json"
diff <(jobs_of "$dir/a.json") <(jobs_of "$dir/b.json") >/dev/null || fail "round trip differs"
printf '{"jobs":[{"name":"ok","cron":"@daily","command":"true"},{"name":"bad","cron":"@daily","command":"x","shards":0}]}' > "$dir/bad.json"
set +e; err=$(ctl import "$dir/bad.json" --confirm 2>&1); rc=$?; set -e
[ $rc = 2 ] || fail "invalid import exit $rc"
echo "$err" | grep -q 'jobs\[1\].shards' || fail "error does not name the field: $err"
ctl job get ok >/dev/null 2>&1 && fail "a job of a refused import was written"
echo ok
