# `./dev drill`: the fault drill (not part of CI). Sourced from lib.sh, not run.
# shellcheck shell=bash

# cmd_drill [--runs N] [--seed S]: N runs (default 3) of sdv-drill, each on a stack of its own
# (node, PostgreSQL, Garage, indexer, relayers, sdv-notify, sdv-storage on loopback), stopping
# at the first failure. The seed of every run is printed; `--runs 1 --seed S` replays one.
cmd_drill() {
  local t0 runs=3 seed="" args=()
  t0=$(date +%s)
  while [ $# -gt 0 ]; do
    case "$1" in
      --runs) [ $# -ge 2 ] || die "--runs needs a number"; runs="$2"; shift 2 ;;
      --seed) [ $# -ge 2 ] || die "--seed needs a number"; seed="$2"; shift 2 ;;
      *) die "unknown drill argument: $1 (usage: ./dev drill [--runs N] [--seed S])" ;;
    esac
  done
  [[ "$runs" =~ ^[1-9][0-9]*$ ]] || die "--runs takes a positive number, not '$runs'"
  [ -z "$seed" ] || [[ "$seed" =~ ^[0-9]+$ ]] || die "--seed takes a number, not '$seed'"
  args=(--runs "$runs")
  [ -z "$seed" ] || args+=(--seed "$seed")
  ensure_tools
  build_contracts
  # The drill starts the services the way the system tests do: the debug builds next to it.
  say "building the services and sdv-drill"
  cargo build --quiet --manifest-path "$ROOT/Cargo.toml" \
    --bin sdv-indexer --bin sdv-relayer --bin sdv-storage --bin sdv-notify ||
    die "the services did not build (see above)"
  cargo build --quiet --manifest-path "$ROOT/Cargo.toml" -p sdv-system-tests --bin sdv-drill ||
    die "sdv-drill did not build (see above)"
  # Each run makes its own PostgreSQL cluster and Garage; none of the test settings apply.
  say "fault drill: $runs run(s)${seed:+ from seed $seed}"
  local status=0
  env -u DATABASE_URL -u SDV_S3_ENDPOINT -u SDV_S3_REGION -u SDV_S3_BUCKET \
    -u SDV_S3_ACCESS_KEY_ID -u SDV_S3_SECRET_ACCESS_KEY \
    "$CARGO_TARGET_DIR/debug/sdv-drill" "${args[@]}" || status=$?
  say "fault drill finished in $(elapsed "$t0")"
  return "$status"
}
