#!/usr/bin/env bash
# tests/integration/binaries.sh: every binary answers --help and --version; bad
# flags are named; logging uses conf/log4crc next to the build and falls back to
# stderr when no rc file can be found.
set -euo pipefail
fail() { echo "FAIL: $*" >&2; exit 1; }
bin=${SC_BIN:?}
ver=$(sed -n 's/^VERSION := //p' "$SC_ROOT/Makefile")
for b in shardcron-agent shardcron-console shardcronctl; do
  out=$("$bin/$b" --version) || fail "$b --version exit $?"
  [ "$out" = "$b $ver" ] || fail "$b --version printed '$out'"
  # read whole before grep -q: past a pipe buffer's worth of help, grep's early
  # exit ends the writer with SIGPIPE, which pipefail reports as a failure
  out=$("$bin/$b" --help) || fail "$b --help exit $?"
  grep -q -- '--zk' <<<"$out" || fail "$b --help does not list --zk"
  out=$("$bin/$b" -h) || fail "$b -h exit $?"
  grep -q -- '--log-level' <<<"$out" || fail "$b -h does not list --log-level"
  set +e; err=$("$bin/$b" --no-such-flag 2>&1); rc=$?; set -e
  [ $rc -ne 0 ] || fail "$b accepted --no-such-flag"
  echo "$err" | grep -q 'no_such_flag' || fail "$b did not name the bad flag: $err"
  set +e; err=$("$bin/$b" --mysql-password x 2>&1); rc=$?; set -e
  [ $rc -ne 0 ] && echo "$err" | grep -q 'password_file' || fail "$b took a password from argv"
done

# Logging: with conf/ next to the build, log4c's dated layout; copied elsewhere,
# the stderr fallback (ISO time, level, program[pid]).
tmp=$(mktemp -d "$SC_TEST_TMP/bin.XXXX")
set +e; err=$("$bin/shardcronctl" --log-level bogus cron check '* * * * * ?' 2>&1); set -e
echo "$err" | grep -q 'log_level' || fail "bad log level not named: $err"
cp "$bin/shardcron-console" "$tmp/"
set +e
fallback=$(env -u LOG4C_RCPATH HOME="$tmp" "$tmp/shardcron-console" --zk 127.0.0.1:1 --listen 127.0.0.1:1 --web "$tmp/no-such-dir" 2>&1 >/dev/null)
set -e
echo "$fallback" | grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T.* shardcron-console\[[0-9]+\] shardcron.console: ' \
  || fail "no stderr fallback line: $fallback"
set +e
rcfile=$(env -u LOG4C_RCPATH "$bin/shardcron-console" --zk 127.0.0.1:1 --listen 127.0.0.1:1 --web "$tmp/no-such-dir" 2>&1 >/dev/null)
set -e
echo "$rcfile" | grep -Eq '^\[stderr\] [0-9]{8} .* shardcron.console- ' || fail "log4c layout not used: $rcfile"
echo "ok"
