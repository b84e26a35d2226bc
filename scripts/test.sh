#!/usr/bin/env bash
# The project's test command (CI runs it through .ci/run):
# tools, formatting, lints, unit and integration tests against DynamoDB Local and moto (the local
# SQS, S3 and EventBridge server), sample events, an end-to-end run of the functions under cargo lambda
# watch (scripts/run-local.sh --check: a message spooled and drained, attachments copied), and
# accounts and secrets through the functions (shared/tests/functions.rs), and the docs (their
# configuration tables and shell commands) against the template, the code and the scripts.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case "${1:-}" in
  "") ;;
  -h | --help)
    sed -n '2,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    echo "Usage: scripts/test.sh   (no arguments)"
    exit 0
    ;;
  *) die "unknown argument '$1': scripts/test.sh takes none (see --help)" ;;
esac

DDB_PORT=""
AWS_PORT=""
cleanup() {
  local status=$?
  # A second Ctrl-C (or timeout(1) signalling the group after the script) must not cut the
  # clean-up short and leave servers running.
  trap - EXIT
  trap "" INT TERM
  if [[ -n "$AWS_PORT" ]]; then
    bash scripts/aws-local.sh stop "$AWS_PORT" || true
    if [[ "$status" == 0 ]]; then rm -f "$TOOLS_DIR/aws-local-$AWS_PORT.log"; fi
  fi
  if [[ -n "$DDB_PORT" ]]; then
    bash scripts/dynamodb-local.sh stop "$DDB_PORT" || true
    # Its log is kept when something failed.
    if [[ "$status" == 0 ]]; then rm -f "$TOOLS_DIR/dynamodb-$DDB_PORT.log"; fi
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

started=$SECONDS
step() { section "$* [$((SECONDS - started))s]"; }

step "Tools (scripts/setup.sh --deploy-tools)"
bash scripts/setup.sh --deploy-tools
info "$(cargo --version); $(cargo lambda --version); $(java -version 2>&1 | head -n 1)"

step "cargo fmt --all -- --check"
cargo fmt --all -- --check

step "No test kit in the functions' release builds (ingest's features, as sam build resolves them)"
check_function_features

step "DynamoDB Local and moto (the local SQS, S3 and EventBridge server) for the integration tests"
port="$(free_port)"
bash scripts/dynamodb-local.sh start "$port"
DDB_PORT="$port"
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$DDB_PORT"
port="$(free_port)"
bash scripts/aws-local.sh start "$port"
AWS_PORT="$port"
export AWS_ENDPOINT_URL_SQS="http://127.0.0.1:$AWS_PORT"
export AWS_ENDPOINT_URL_S3="http://127.0.0.1:$AWS_PORT"
# moto's EventBridge, for the projector's events (shared/tests/bus.rs).
export AWS_ENDPOINT_URL_EVENTBRIDGE="http://127.0.0.1:$AWS_PORT"
export AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export INGEST_TEST_DYNAMODB=1

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test --workspace"
cargo test --workspace

step "cargo build --bins (the functions, as cargo lambda watch builds them) and ingest-dev"
cargo build --bins
build_ingest_dev

step "ingest-dev sign-events --check"
"$INGEST_DEV" sign-events --check

step "scripts/run-local.sh --check"
# It starts its own DynamoDB Local and moto.
env -u AWS_ENDPOINT_URL_S3 -u AWS_ENDPOINT_URL_SQS -u AWS_ENDPOINT_URL_EVENTBRIDGE bash scripts/run-local.sh --check

step "Accounts and secrets through the functions (shared/tests/functions.rs: cargo lambda watch per configuration)"
# The functions run-local.sh just built, served by cargo lambda watch with one environment file per
# configuration: secret lists and rotation, named Callbell accounts, allow-lists, misconfigured
# settings, bodies without an envelope; DynamoDB Local is this script's.
cargo test --workspace --test functions -- --ignored

step "tests/*.py (template.yaml against the contract; the docs against the template, the code and the scripts), cfn-lint, sam validate --lint"
# Both work offline; SAM wants a region and is told not to send telemetry.
export AWS_DEFAULT_REGION=us-east-1 SAM_CLI_TELEMETRY=0
"$VENV_DIR/bin/python" -m unittest discover --start-directory tests --pattern 'test_*.py' --verbose
cfn-lint template.yaml
sam validate --lint --template-file template.yaml

step "sam build (x86_64: builds every function with cargo lambda, release profile relaxed)"
# rust-cargolambda is a SAM beta build method. x86_64 is this machine's own target: no extra
# Rust target to download. What this checks is that SAM builds every function from the
# template, with the release profile's optimisations (some compile errors happen only there:
# MIR inlining deepens what rustc lays out). Its whole-program code generation (fat LTO, one
# codegen unit: four long links on two cores) is what scripts/bench.sh measures and a deploy
# builds, and is relaxed here through cargo's environment, which SAM passes on.
rm -rf .aws-sam/build
CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
  sam build --beta-features --template-file template.yaml --build-dir .aws-sam/build \
  --parameter-overrides Architecture=x86_64
built=(.aws-sam/build/*/bootstrap)
[[ -x "${built[0]}" ]] || die "sam build produced no bootstrap"
((${#built[@]} == $(all_functions | wc -l))) ||
  die "sam build produced ${#built[@]} bootstraps for $(all_functions | wc -l) functions"
for bootstrap in "${built[@]}"; do
  info "$(basename "$(dirname "$bootstrap")"): $(du -h "$bootstrap" | cut -f1) bootstrap (relaxed profile: not the size deployed)"
  # The functions bring their own pow (shared/src/lambda.rs) so that libm.so stays out of
  # their processes (~0.3 MiB of peak RSS): a new call into libm would bring it back.
  if readelf --dynamic "$bootstrap" | grep -q 'NEEDED.*\[libm\.so'; then
    die "$bootstrap needs libm.so again: 'nm -D --undefined-only $bootstrap' names the libm function it calls"
  fi
done

step "All checks passed"
