#!/usr/bin/env bash
# A local SQS, S3 and EventBridge server (moto's server mode, in memory) for development and tests.
#
#   scripts/aws-local.sh start <port>   start in the background, wait until SQS and S3 answer
#   scripts/aws-local.sh stop <port>    stop the server started for <port>
#   scripts/aws-local.sh status <port>  exit 0 when it is running and answering
#   scripts/aws-local.sh reset <port>   drop every queue, message, bucket and object it holds
#   scripts/aws-local.sh free-port      print a free TCP port on 127.0.0.1
#
# Log: .tools/aws-local-<port>.log, pid file: .tools/aws-local-<port>.pid.
# One process serves both APIs on one port, bound to 127.0.0.1 only: clients use
# http://127.0.0.1:<port> for SQS, S3 and EventBridge (S3 path-style). Client settings: docs/LOCAL_AWS.md.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

START_TIMEOUT_S="${AWS_LOCAL_START_TIMEOUT_S:-30}"

usage() {
  sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

check_port() {
  if ! [[ "${1:-}" =~ ^[0-9]+$ ]] || (("$1" < 1 || "$1" > 65535)); then
    die "expected a port number, got '${1:-}'"
  fi
}

pid_file() { printf '%s/aws-local-%s.pid\n' "$TOOLS_DIR" "$1"; }
log_file() { printf '%s/aws-local-%s.log\n' "$TOOLS_DIR" "$1"; }

# The pid recorded for <port>, when that process still runs.
running_pid() {
  local file pid
  file="$(pid_file "$1")"
  [[ -f "$file" ]] || return 1
  pid="$(cat "$file")"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  printf '%s\n' "$pid"
}

# moto's own dashboard (GET /moto-api/) answers 200 once the server is up; this also tells moto
# from another program that happens to answer on the port. The checks run on the venv's python,
# which starts in ~30 ms (a `python3` behind a version manager's shim can take 300 ms a poll).
answers() {
  "$AWS_VENV_DIR/bin/python" - "$1" <<'PY' 2>/dev/null
import sys, urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/moto-api/", timeout=2) as r:
    sys.exit(0 if r.status == 200 else 1)
PY
}

# One SQS call (ListQueues, JSON protocol) and one S3 call (ListBuckets). moto loads a service's
# code on its first request (~0.3 s for SQS): doing it here keeps that off the tests' first
# call. moto routes on the service named in the Authorization header and does not check the
# signature, so a fixed, unsigned header does.
warm_up() {
  "$AWS_VENV_DIR/bin/python" - "$1" <<'PY'
import sys, urllib.request
base = f"http://127.0.0.1:{sys.argv[1]}/"
auth = ("AWS4-HMAC-SHA256 Credential=test/20200101/us-east-1/{}/aws4_request, "
        "SignedHeaders=host, Signature=0")
calls = {
    "SQS ListQueues": urllib.request.Request(base, data=b"{}", method="POST", headers={
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.ListQueues",
        "Authorization": auth.format("sqs")}),
    "S3 ListBuckets": urllib.request.Request(base, method="GET", headers={
        "Authorization": auth.format("s3")}),
}
expect = {"SQS ListQueues": b"{", "S3 ListBuckets": b"<?xml"}
for name, req in calls.items():
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
    except Exception as e:
        sys.exit(f"{name}: {e}")
    if not body.lstrip().startswith(expect[name]):
        sys.exit(f"{name}: unexpected answer {body[:200]!r}")
PY
}

start() {
  local port="$1" pid log out
  check_port "$port"
  if pid="$(running_pid "$port")"; then
    answers "$port" && {
      info "moto (SQS, S3) already running on 127.0.0.1:$port (pid $pid)"
      return
    }
    die "moto for port $port runs (pid $pid) but does not answer; see $(log_file "$port")"
  fi
  port_open "$port" && die "port $port on 127.0.0.1 is already in use by another program"
  if ! [[ -x "$AWS_VENV_DIR/bin/python" ]] || ! "$AWS_VENV_DIR/bin/python" -c \
    'import importlib.util as u, sys; sys.exit(not (u.find_spec("moto") and u.find_spec("flask")))'; then
    die "moto is not installed in ${AWS_VENV_DIR#"$ROOT"/}: run scripts/setup.sh"
  fi
  log="$(log_file "$port")"
  mkdir -p "$TOOLS_DIR"
  # Own process group (setsid) so that stopping it never touches the caller's group.
  setsid "$AWS_VENV_DIR/bin/python" -m moto.server --host 127.0.0.1 --port "$port" \
    >"$log" 2>&1 </dev/null &
  pid=$!
  printf '%s\n' "$pid" >"$(pid_file "$port")"
  local deadline=$((SECONDS + START_TIMEOUT_S))
  until answers "$port"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$(pid_file "$port")"
      show_log_tail "$log"
      die "moto exited before answering on 127.0.0.1:$port"
    fi
    if ((SECONDS >= deadline)); then
      show_log_tail "$log"
      stop "$port" >/dev/null 2>&1 || true
      die "moto did not answer on 127.0.0.1:$port within ${START_TIMEOUT_S}s"
    fi
    sleep 0.1
  done
  if ! out="$(warm_up "$port" 2>&1)"; then
    show_log_tail "$log"
    stop "$port" >/dev/null 2>&1 || true
    die "moto on 127.0.0.1:$port answers, but not as SQS and S3: $out"
  fi
  info "moto (SQS, S3) listening on http://127.0.0.1:$port (pid $pid, log ${log#"$ROOT"/})"
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
  info "moto on port $port stopped"
}

# POST /moto-api/reset: moto forgets every resource of every service (all accounts, regions).
reset() {
  local port="$1"
  check_port "$port"
  running_pid "$port" >/dev/null || die "no moto started by this script on port $port"
  "$AWS_VENV_DIR/bin/python" - "$port" <<'PY' || die "moto on port $port did not accept the reset"
import sys, urllib.request
req = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/moto-api/reset", data=b"",
                             method="POST")
with urllib.request.urlopen(req, timeout=10) as r:
    sys.exit(0 if r.status == 200 else 1)
PY
}

case "${1:-}" in
  start) start "${2:-}" ;;
  stop) stop "${2:-}" ;;
  status) running_pid "${2:-}" >/dev/null && answers "${2:-}" ;;
  reset) reset "${2:-}" ;;
  free-port) free_port ;;
  -h | --help) sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' ;;
  *) usage ;;
esac
