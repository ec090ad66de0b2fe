# scripts/lib.sh: shell helpers shared by the project's scripts (sourced, not run).
# Owns: free-port picking and bounded waiting, so every script waits the same way.

# sc_free_port: print a loopback TCP port nobody listens on right now.
# Random start so two concurrent runs rarely race for the same port. Chosen below
# the kernel's ephemeral range, so a listener the kernel places on port 0 (an
# agent's or console's HTTP port) cannot take it between this check and the
# server's bind.
sc_free_port() {
  local tries=0 p lo=32768 span base
  read -r lo _ < /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || lo=32768
  if [ "$lo" -gt 12000 ]; then span=$(( lo - 10000 )); base=10000; else span=40000; base=20000; fi
  while [ $tries -lt 200 ]; do
    p=$(( base + (RANDOM * 32768 + RANDOM) % span ))
    if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then
      echo "$p"
      return 0
    fi
    tries=$((tries + 1))
  done
  echo "sc_free_port: no free port found" >&2
  return 1
}

# sc_wait_until DEADLINE_S CMD...: run CMD until it succeeds or the deadline passes.
# Polls every 100 ms; returns 1 on timeout. The poll interval is a retry cadence,
# not a guess at how long something takes.
sc_wait_until() {
  local deadline=$(( $(date +%s) + $1 )); shift
  while :; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.1
  done
}

# sc_pid_alive PIDFILE: true when the pid in PIDFILE names a live process.
sc_pid_alive() {
  [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

# sc_stop_pidfile PIDFILE [DEADLINE_S]: SIGTERM, wait, then SIGKILL; removes the file.
sc_stop_pidfile() {
  local f=$1 d=${2:-20} pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    if ! sc_wait_until "$d" sh -c "! kill -0 $pid 2>/dev/null"; then
      kill -KILL "$pid" 2>/dev/null
      sc_wait_until 5 sh -c "! kill -0 $pid 2>/dev/null"
    fi
  fi
  rm -f "$f"
}
