# shellcheck shell=bash
# Helpers shared by the scripts in this directory. Source it; it changes nothing by itself
# except PATH (project-local tools first) and the working directory (the repository root).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_DIR="$ROOT/.tools"
VENV_DIR="$TOOLS_DIR/venv"
export PATH="$VENV_DIR/bin:$PATH"
cd "$ROOT" || exit 1

# shellcheck disable=SC2034 # used by the scripts that source this file
PEER_VENV_DIR="$TOOLS_DIR/peer-venv"
# The local SQS, S3 and EventBridge server (moto, scripts/aws-local.sh): its own venv, kept off PATH, so that
# its dependencies never meet the SAM CLI's in .tools/venv.
# shellcheck disable=SC2034 # used by the scripts that source this file
AWS_VENV_DIR="$TOOLS_DIR/aws-venv"
# Pinned tool versions (the npm pin lives in tools/package.json and tools/package-lock.json).
# shellcheck disable=SC2034 # used by the scripts that source this file
CARGO_LAMBDA_VERSION="1.9.2"
# Deployment tooling, checked by the test command (template lint, validate, build).
# shellcheck disable=SC2034
SAM_CLI_VERSION="1.170.0"
# shellcheck disable=SC2034
CFN_LINT_VERSION="1.58.0"
# The benchmark's Python peer (../shared/peers/python_tiktok).
# shellcheck disable=SC2034
AWSLAMBDARIC_VERSION="4.2.2"
# shellcheck disable=SC2034
BOTO3_VERSION="1.44.5"
# The local SQS, S3 and EventBridge server, moto's server mode (docs/LOCAL_AWS.md), with the two web packages
# it needs; every other dependency is pinned in tools/aws-local-constraints.txt.
# shellcheck disable=SC2034
MOTO_VERSION="5.2.5"
# shellcheck disable=SC2034
FLASK_VERSION="3.1.3"
# shellcheck disable=SC2034
FLASK_CORS_VERSION="6.0.5"

section() { printf '\n==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# Print the last lines of a log file to stderr, framed, if it exists.
show_log_tail() {
  local file="$1" lines="${2:-40}"
  if [[ -s "$file" ]]; then
    printf -- '---- last %s lines of %s ----\n' "$lines" "$file" >&2
    tail -n "$lines" "$file" >&2
    printf -- '---- end of %s ----\n' "$file" >&2
  fi
}

# A TCP port on 127.0.0.1 that is free right now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# True when something accepts TCP connections on 127.0.0.1:<port>.
port_open() {
  python3 - "$1" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket()
s.settimeout(0.5)
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
PY
}

# Export every variable of local.env (the local development configuration) into this shell.
load_local_env() {
  [[ -f "$ROOT/local.env" ]] || die "missing $ROOT/local.env"
  set -a
  # shellcheck source=/dev/null
  source "$ROOT/local.env"
  set +a
}

# The ingest-dev binary, built on demand (quietly unless it fails). It is not a default member
# of the workspace (Cargo.toml: its test-kit features stay out of the functions), so it is built
# with the whole workspace selected (`--workspace --bin`, never `-p`): the feature resolution of
# `cargo test --workspace`, whose dependencies are then compiled once for both. The functions
# build with the default members, as `cargo lambda watch` and `sam build` select them.
# shellcheck disable=SC2034 # used by the scripts that source this file
INGEST_DEV="$ROOT/target/debug/ingest-dev"
build_ingest_dev() {
  local out
  if ! out="$(cargo build --quiet --workspace --bin ingest-dev 2>&1)"; then
    printf '%s\n' "$out" >&2
    die "could not build ingest-dev (cargo build --workspace --bin ingest-dev)"
  fi
}

# The shared crate's test-kit features, which no function's build may enable.
TEST_KIT_FEATURES=(testkit testkit-stream replay backfill erase)

# Fails unless the functions' builds, as `sam build` makes them, enable none of
# TEST_KIT_FEATURES on the shared crate. SAM runs `cargo lambda build --release --bin <function>`
# (plus `--arm64` for arm64) in the repository root: cargo selects the workspace's default
# members for that, whichever `--bin` is asked for, and resolves features over all of them,
# without dev-dependencies. `cargo tree` with the same selection, the same edges and every target
# shows that resolution: which features of `ingest` are on, and who turns each on.
check_function_features() {
  local tree feature found=()
  tree="$(cargo tree --edges features,normal,build --invert ingest --target all 2>&1)" ||
    die "cargo tree failed: $tree"
  # The functions' own feature must be there: the tree is the functions' resolution.
  grep -q 'ingest feature "mimalloc"' <<<"$tree" ||
    die "cargo tree shows no function enabling ingest's mimalloc feature: not the functions' resolution?"$'\n'"$tree"
  for feature in "${TEST_KIT_FEATURES[@]}"; do
    if grep -q "ingest feature \"$feature\"" <<<"$tree"; then found+=("$feature"); fi
  done
  if ((${#found[@]} > 0)); then
    printf '%s\n' "$tree" >&2
    die "a function's release build (cargo lambda build --release --bin <function>) enables ingest's test-kit feature(s): ${found[*]}"
  fi
  local enabled
  enabled="$(grep -o 'ingest feature "[a-z-]*"' <<<"$tree" | sed 's/^ingest feature "\(.*\)"$/\1/' | sort -u | paste -sd ' ')"
  info "the functions' builds enable ingest's features: $enabled; none of: ${TEST_KIT_FEATURES[*]}"
}

# The webhook functions, one per registered provider (shared/src/providers/mod.rs), as
# `ingest-dev providers` lists them. Builds ingest-dev first.
webhook_functions() {
  build_ingest_dev
  "$INGEST_DEV" providers
}

# Every function of the workspace: the directories under functions/.
all_functions() {
  local manifest
  for manifest in "$ROOT"/functions/*/Cargo.toml; do
    basename "$(dirname "$manifest")"
  done
}

# Exit unless every entry of a MEDIA_ALLOW_HOSTS value names loopback: `localhost`, a name
# under `.localhost`, an address in 127.0.0.0/8, or [::1]. The local runs fetch nothing else.
require_loopback_media_hosts() {
  local value="$1" entry
  [[ -n "$value" ]] || die "MEDIA_ALLOW_HOSTS is empty: local runs must list loopback names only"
  IFS=',' read -ra entries <<<"$value"
  for entry in "${entries[@]}"; do
    entry="${entry// /}"
    case "$entry" in
      localhost | '*.localhost' | *.localhost | '[::1]') ;;
      127.*)
        [[ "$entry" =~ ^127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] ||
          die "MEDIA_ALLOW_HOSTS entry '$entry' is not a loopback address"
        ;;
      *) die "MEDIA_ALLOW_HOSTS entry '$entry' is not loopback: local runs fetch from loopback only" ;;
    esac
  done
}

# The local media samples' files (events/media/) plus a generated 12 MiB video (multipart
# upload), in <dir>, as the local file server serves them.
prepare_local_media() {
  local dir="$1"
  rm -rf "$dir" && mkdir -p "$dir/generated"
  cp -R "$ROOT/events/media/." "$dir/"
  python3 - "$dir/generated/entrega.mp4" <<'PY'
import random, sys
rng = random.Random(20251120)
with open(sys.argv[1], "wb") as f:
    for _ in range(12):
        f.write(rng.randbytes(1024 * 1024))
PY
}
