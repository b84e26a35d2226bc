#!/usr/bin/env bash
# The media function's bench (not a test): copying a large file (200 MiB by default) served on
# loopback into moto's S3, next to a plain streaming copy of the same file into the same server,
# measured in the same run (bench/media.py). Reports the media function's peak RSS (target:
# <= 64 MiB), both throughputs (target: the media function's time within 1.5x of the plain
# copy's) and the zipped size of the media bootstrap. Release builds throughout.
#
# Usage: bench/media.sh [--size-mib N] [--runs N]   (defaults: 200 MiB, 2 runs of each)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

SIZE_MIB=200 RUNS=2
while (($#)); do
  case "$1" in
    -h | --help) sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --size-mib) SIZE_MIB="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    *) die "unknown option $1 (see the head of $0)" ;;
  esac
done

WORK="$ROOT/target/bench-media"
DDB_PORT="" AWS_PORT=""
cleanup() {
  local status=$?
  # A second Ctrl-C (or timeout(1) signalling the group after the script) must not cut the
  # clean-up short and leave servers running.
  trap - EXIT
  trap "" INT TERM
  if [[ -n "$AWS_PORT" ]]; then bash scripts/aws-local.sh stop "$AWS_PORT" || true; fi
  if [[ -n "$DDB_PORT" ]]; then bash scripts/dynamodb-local.sh stop "$DDB_PORT" || true; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

section "Tools"
bash scripts/setup.sh
rm -rf "$WORK" && mkdir -p "$WORK/bootstrap"

section "Release builds: the media bootstrap (cargo lambda, zipped) and ingest-dev (plain-copy)"
cargo lambda build --release --output-format zip --bin media
python3 -m zipfile -e target/lambda/media/bootstrap.zip "$WORK/bootstrap"
chmod +x "$WORK/bootstrap/bootstrap"
zipped="$(stat -c %s target/lambda/media/bootstrap.zip)"
unzipped="$(stat -c %s "$WORK/bootstrap/bootstrap")"
info "media: $zipped B zipped, $unzipped B unzipped"
cargo build --release --workspace --bin ingest-dev
build_ingest_dev

section "DynamoDB Local and moto"
DDB_PORT="$(free_port)"
bash scripts/dynamodb-local.sh start "$DDB_PORT"
AWS_PORT="$(free_port)"
bash scripts/aws-local.sh start "$AWS_PORT"
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$DDB_PORT" AWS_ENDPOINT_URL_S3="http://127.0.0.1:$AWS_PORT"
export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench
"$INGEST_DEV" create-table messages
"$INGEST_DEV" create-bucket media-bench

section "Copying ${SIZE_MIB} MiB, $RUNS times each (bench/media.py)"
python3 bench/media.py --bootstrap "$WORK/bootstrap/bootstrap" --ingest-dev "$ROOT/target/release/ingest-dev" \
  --dynamodb "$AWS_ENDPOINT_URL_DYNAMODB" --s3 "$AWS_ENDPOINT_URL_S3" --size-mib "$SIZE_MIB" \
  --runs "$RUNS" --work "$WORK" --out "$WORK/results.json"
info "media bootstrap: $zipped B zipped; results in ${WORK#"$ROOT"/}/results.json"
