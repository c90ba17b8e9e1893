#!/usr/bin/env bash
# Local AWS emulator (moto_server from the pinned .tools/aws venv) for tests and runbook checks.
#
# Usage: scripts/moto.sh start   start on 127.0.0.1 on a free port (idempotent), print the URL
#        scripts/moto.sh url     print http://127.0.0.1:PORT of the running server (fails if none)
#        scripts/moto.sh stop    stop the server this script started (idempotent)
#
# State lives in .tools/moto/ (pid, port, server.log). Only the pid recorded there is ever
# signalled. Point clients at it with:  export AWS_ENDPOINT_URL="$(scripts/moto.sh url)"
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state="$root/.tools/moto"
pidfile="$state/pid"
portfile="$state/port"
logfile="$state/server.log"
py="$root/.tools/aws/bin/python"
server="$root/.tools/aws/bin/moto_server"

# True when the recorded process is alive and answers HTTP on the recorded port.
running() {
  [[ -f "$pidfile" && -f "$portfile" ]] || return 1
  local pid port
  pid="$(cat "$pidfile")"
  port="$(cat "$portfile")"
  [[ "$pid" =~ ^[0-9]+$ && "$port" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  answers "$port"
}

answers() {
  "$py" - "$1" <<'PY' >/dev/null 2>&1
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/moto-api/data.json", timeout=1).read()
PY
}

# Ask the kernel for a free port: bind port 0, read it, release it.
free_port() {
  "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
  if running; then
    echo "http://127.0.0.1:$(cat "$portfile")"
    return 0
  fi
  "$root/scripts/tools.sh" aws
  mkdir -p "$state"
  rm -f "$pidfile" "$portfile"
  local attempt port pid
  # The port could be taken between free_port and the bind; try a few times.
  for attempt in 1 2 3; do
    port="$(free_port)"
    # setsid: the server outlives the shell that started it (a test session, a CI step).
    setsid "$server" -H 127.0.0.1 -p "$port" >"$logfile" 2>&1 </dev/null &
    pid=$!

    for _ in $(seq 1 100); do
      if answers "$port"; then
        echo "$pid" >"$pidfile"
        echo "$port" >"$portfile"
        echo "http://127.0.0.1:$port"
        return 0
      fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
    echo "moto.sh: attempt $attempt on port $port failed; see $logfile" >&2
  done
  echo "moto.sh: moto_server did not start" >&2
  exit 1
}

stop() {
  if [[ -f "$pidfile" ]]; then
    local pid
    pid="$(cat "$pidfile")"
    if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
    fi
  fi
  rm -f "$pidfile" "$portfile"
}

url() {
  if running; then
    echo "http://127.0.0.1:$(cat "$portfile")"
  else
    echo "moto.sh: not running (scripts/moto.sh start)" >&2
    exit 1
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  url) url ;;
  *) echo "usage: scripts/moto.sh start|stop|url" >&2; exit 2 ;;
esac
