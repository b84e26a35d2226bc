#!/usr/bin/env bash
# Coverage-guided fuzzing of the shared crate with cargo-fuzz (libFuzzer): see fuzz/README.md.
#
#   scripts/fuzz.sh [--seconds N] [target...]      (default: every target, 600 s each)
#   scripts/fuzz.sh --list                          (the targets)
#   scripts/fuzz.sh --refresh-seeds                 (re-copy the sample bodies and events into
#                                                    fuzz/seeds/; the crafted nasty-* stay)
#
# Installs cargo-fuzz (pinned) into .tools/cargo-fuzz when `cargo fuzz` is not that version,
# builds every target once, then runs the targets one at a time, each bounded by
# -max_total_time, on the stable toolchain (RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its nightly
# flags). Working corpus: fuzz/corpus/<target>/ (seeded from fuzz/seeds/<target>/), crashes:
# fuzz/artifacts/<target>/, libFuzzer's log: fuzz/artifacts/<target>/fuzz.log. Prints a table
# at the end and exits non-zero when any target found a crash (or could not run).
#
# Environment: FUZZ_SANITIZER (none by default, for speed: the code under test is safe Rust;
# `address` for ASan), FUZZ_ARGS (extra libFuzzer flags), CARGO_BUILD_JOBS (build parallelism).
# One libFuzzer process at a time, so fuzzing takes one core.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CARGO_FUZZ_VERSION="0.13.2"
CARGO_FUZZ_ROOT="$TOOLS_DIR/cargo-fuzz"
FUZZ_DIR="$ROOT/fuzz"
SANITIZER="${FUZZ_SANITIZER:-none}"
# The handler answers in milliseconds; an input that takes this long is a hang.
INPUT_TIMEOUT_S=25
RSS_LIMIT_MB=2048

usage() {
  sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}

all_targets() {
  local file
  for file in "$FUZZ_DIR"/fuzz_targets/*.rs; do
    basename "$file" .rs
  done
}

# The seeds of a target: fuzz/seeds/<target>/ for event_decoding; for webhook_body, each
# provider's fuzz/seeds/<provider>/ bodies, prefixed with the provider's name and a newline (the
# target's input format).
seed_files() {
  local target="$1" provider seed
  if [[ "$target" != webhook_body ]]; then
    find "$FUZZ_DIR/seeds/$target" -maxdepth 1 -type f | sort | sed 's/^/copy\t/'
    return
  fi
  while IFS= read -r provider; do
    for seed in "$FUZZ_DIR/seeds/$provider"/*; do
      [[ -f "$seed" ]] && printf 'prefix\t%s\t%s\n' "$seed" "$provider"
    done
  done < <(webhook_functions | tr '-' '_')
}

refresh_seeds() {
  local function provider file
  while IFS= read -r function; do
    provider="${function//-/_}"
    mkdir -p "$FUZZ_DIR/seeds/$provider"
    rm -f "$FUZZ_DIR/seeds/$provider"/body-* "$FUZZ_DIR/seeds/$provider"/golden-*
    for file in "$ROOT/events/bodies/$function"/*.json; do
      cp "$file" "$FUZZ_DIR/seeds/$provider/body-$(basename "$file")"
    done
    for file in "$ROOT/shared/tests/data/golden/$function"-*.body.json; do
      [[ -f "$file" ]] && cp "$file" "$FUZZ_DIR/seeds/$provider/golden-$(basename "$file")"
    done
    mkdir -p "$FUZZ_DIR/seeds/event_decoding"
    rm -f "$FUZZ_DIR/seeds/event_decoding/event-$function"-*
    for file in "$ROOT/events/$function"/*.json; do
      cp "$file" "$FUZZ_DIR/seeds/event_decoding/event-$function-$(basename "$file")"
    done
  done < <(webhook_functions)
  info "seeds: $(find "$FUZZ_DIR/seeds" -type f | wc -l) files in fuzz/seeds/"
}

seconds=600
targets=()
while (($#)); do
  case "$1" in
    --seconds)
      [[ $# -ge 2 && "$2" =~ ^[1-9][0-9]*$ ]] || die "--seconds needs a positive number of seconds"
      seconds="$2"
      shift 2
      ;;
    --seconds=*)
      seconds="${1#--seconds=}"
      [[ "$seconds" =~ ^[1-9][0-9]*$ ]] || die "--seconds needs a positive number of seconds"
      shift
      ;;
    --list)
      all_targets
      exit 0
      ;;
    --refresh-seeds)
      refresh_seeds
      exit 0
      ;;
    -h | --help) usage 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *)
      targets+=("$1")
      shift
      ;;
  esac
done
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(all_targets)
fi
known=" $(all_targets | tr '\n' ' ') "
for target in "${targets[@]}"; do
  [[ "$known" == *" $target "* ]] || die "unknown target $target; the targets are:$known"
done

# cargo-fuzz, pinned, inside the project.
export PATH="$CARGO_FUZZ_ROOT/bin:$PATH"
if [[ "$(cargo fuzz --version 2>/dev/null || true)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
  section "Installing cargo-fuzz $CARGO_FUZZ_VERSION into .tools/cargo-fuzz (a few minutes, once)"
  cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION" --root "$CARGO_FUZZ_ROOT"
  hash -r
  [[ "$(cargo fuzz --version)" == "cargo-fuzz $CARGO_FUZZ_VERSION" ]] ||
    die "cargo fuzz is $(cargo fuzz --version), not $CARGO_FUZZ_VERSION, after installing"
fi

# cargo-fuzz's -Z flags on the stable toolchain.
export RUSTC_BOOTSTRAP=1
build_args=(--sanitizer "$SANITIZER")

section "Building the fuzz targets ($(cargo fuzz --version), sanitizer $SANITIZER)"
cargo fuzz build "${build_args[@]}"

FUZZ_PID=""
TAIL_PID=""
stop_children() {
  # The fuzzer runs in its own process group (setsid): end that group, then the log follower.
  if [[ -n "$FUZZ_PID" ]]; then
    kill -TERM -- "-$FUZZ_PID" 2>/dev/null || true
    wait "$FUZZ_PID" 2>/dev/null || true
    FUZZ_PID=""
  fi
  if [[ -n "$TAIL_PID" ]]; then
    kill "$TAIL_PID" 2>/dev/null || true
    wait "$TAIL_PID" 2>/dev/null || true
    TAIL_PID=""
  fi
}
on_exit() {
  local status=$?
  # A second Ctrl-C (or timeout(1) signalling the group after the script) must not cut the
  # clean-up short and leave servers running.
  trap - EXIT
  trap "" INT TERM
  stop_children
  exit "$status"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# One row per target: target seconds executions corpus crashes (tab-separated).
rows=()
found=0
for target in "${targets[@]}"; do
  corpus="$FUZZ_DIR/corpus/$target"
  artifacts="$FUZZ_DIR/artifacts/$target"
  log="$artifacts/fuzz.log"
  mkdir -p "$corpus" "$artifacts"
  # Seeds join the working corpus (files already there are kept).
  while IFS=$'\t' read -r how seed provider; do
    if [[ "$how" == prefix ]]; then
      copy="$corpus/$provider-$(basename "$seed")"
      [[ -e "$copy" ]] || { printf '%s\n' "$provider"; cat "$seed"; } >"$copy"
    elif [[ ! -e "$corpus/$(basename "$seed")" ]]; then
      cp "$seed" "$corpus/"
    fi
  done < <(seed_files "$target")
  before="$(find "$artifacts" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' \) | sort)"

  section "Fuzzing $target for ${seconds} s ($(find "$corpus" -type f | wc -l) corpus files)"
  started=$SECONDS
  : >"$log"
  # shellcheck disable=SC2086 # FUZZ_ARGS is a list of libFuzzer flags
  setsid cargo fuzz run "${build_args[@]}" "$target" "$corpus" -- \
    -max_total_time="$seconds" -timeout="$INPUT_TIMEOUT_S" -rss_limit_mb="$RSS_LIMIT_MB" \
    -print_final_stats=1 -dict="$FUZZ_DIR/fuzz.dict" -artifact_prefix="$artifacts/" \
    ${FUZZ_ARGS:-} </dev/null >"$log" 2>&1 &
  FUZZ_PID=$!
  # Shown as it runs, less libFuzzer's line per new corpus unit (all of it is in the log).
  tail -n +1 -f --pid="$FUZZ_PID" "$log" | grep --line-buffered -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE) ' &
  TAIL_PID=$!
  status=0
  wait "$FUZZ_PID" || status=$?
  FUZZ_PID=""
  wait "$TAIL_PID" 2>/dev/null || true
  TAIL_PID=""
  elapsed=$((SECONDS - started))

  executions="$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)"
  after="$(find "$artifacts" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' \) | sort)"
  crashes="$(comm -13 <(printf '%s\n' "$before" | sed '/^$/d') <(printf '%s\n' "$after" | sed '/^$/d') | wc -l)"
  if ((status != 0)) && ((crashes == 0)); then
    # Not a finding: the fuzzer itself failed (see the log).
    crashes="error (exit $status)"
    found=1
    show_log_tail "$log" 30
  elif ((crashes > 0)); then
    found=1
    info "$target: $crashes new input(s) in fuzz/artifacts/$target/ (reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run ${build_args[*]} $target <file>; minimize: cargo fuzz tmin ${build_args[*]} $target <file>)"
  fi
  rows+=("$target	$elapsed	${executions:-?}	$(find "$corpus" -type f | wc -l)	$crashes")
done

section "Fuzzing summary (sanitizer $SANITIZER, ${seconds} s per target)"
{
  printf 'target\tseconds\texecutions\tcorpus\tcrashes\n'
  printf '%s\n' "${rows[@]}"
} | column -t -s $'\t'
if ((found)); then
  die "a target found a crash or failed: see fuzz/artifacts/<target>/ (fuzz.log and the inputs)"
fi
