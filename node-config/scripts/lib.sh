# Functions behind ./dev. Sourced, not run.
# shellcheck shell=bash
# shellcheck source=node-config/scripts/versions.sh
source "$ROOT/node-config/scripts/versions.sh"

CACHE="${SDV_CACHE:-$HOME/.cache/sdv}"
STATE="$ROOT/.dev-state"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
CONTRACTS_TARGET="$CACHE/target-contracts"
export SDV_CONTRACTS_DIR="${SDV_CONTRACTS_DIR:-$CONTRACTS_TARGET/ink}"
# The same contracts built with their `next-version` feature, for code-upgrade tests.
NEXT_TARGET="$CACHE/target-contracts-next"
export SDV_CONTRACTS_NEXT_DIR="${SDV_CONTRACTS_NEXT_DIR:-$NEXT_TARGET/ink}"
UPGRADE_TESTED=(validator_governance)
export PATH="$HOME/.cargo/bin:$PATH"
# The contracts, in deployment order (node-config/src/deploy.rs keeps the same list).
CONTRACT_CRATES=(validator_governance document_nft team_vault guardian_recovery)

say() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
elapsed() { local s=$(( $(date +%s) - $1 )); printf '%dm%02ds' $((s / 60)) $((s % 60)); }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# --- installation -------------------------------------------------------------------------

ensure_debian() {
  local missing=() p
  for p in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} = 0 ] && return
  say "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_contracts_toolchain() {
  command -v rustup >/dev/null || die "rustup is missing: install Rust with rustup first (https://rustup.rs)"
  if rustup run "$CONTRACTS_TOOLCHAIN" rustc --version >/dev/null 2>&1 &&
     rustup target list --installed --toolchain "$CONTRACTS_TOOLCHAIN" 2>/dev/null | grep -q wasm32-unknown-unknown &&
     rustup component list --installed --toolchain "$CONTRACTS_TOOLCHAIN" 2>/dev/null | grep -q '^rust-src' &&
     rustup component list --installed --toolchain "$CONTRACTS_TOOLCHAIN" 2>/dev/null | grep -q '^clippy'; then
    return
  fi
  say "installing Rust $CONTRACTS_TOOLCHAIN with wasm32-unknown-unknown, rust-src and clippy (the contracts' toolchain)"
  rustup toolchain install "$CONTRACTS_TOOLCHAIN" --profile minimal \
    --component rust-src,clippy,rustfmt --target wasm32-unknown-unknown
}

# install_prebuilt BINARY VERSION: unpack BINARY from $SDV_PREBUILT_DIR when it holds a file
# whose sha256 matches the pinned one. Returns non-zero when there is none.
install_prebuilt() {
  local bin="$1" version="$2" dir="${SDV_PREBUILT_DIR:-}" file tmp sum
  [ -n "$dir" ] || return 1
  file="$dir/$bin-$version-x86_64-linux-gnu.xz"
  [ -f "$file" ] || return 1
  tmp="$(mktemp)"
  xz -dc "$file" > "$tmp"
  sum="$(sha256sum "$tmp" | cut -d' ' -f1)"
  if [ "$sum" != "${PREBUILT_SHA256[$bin-$version]:-}" ]; then
    rm -f "$tmp"
    say "ignoring $file: its sha256 is not the pinned one"
    return 1
  fi
  mkdir -p "$HOME/.cargo/bin"
  chmod +x "$tmp" && mv "$tmp" "$HOME/.cargo/bin/$bin"
  say "installed $bin $version from $file"
}

ensure_cargo_contract() {
  if cargo contract --version 2>/dev/null | grep -q " $CARGO_CONTRACT_VERSION"; then return; fi
  install_prebuilt cargo-contract "$CARGO_CONTRACT_VERSION" && return
  say "building cargo-contract $CARGO_CONTRACT_VERSION from crates.io (about 25 minutes on 2 cores)"
  local t0; t0=$(date +%s)
  cargo install cargo-contract --version "$CARGO_CONTRACT_VERSION" --locked
  say "cargo-contract built in $(elapsed "$t0")"
}

ensure_node() {
  if "$NODE_BIN" --version 2>/dev/null | grep -q " $NODE_VERSION"; then return; fi
  install_prebuilt "$NODE_BIN" "$NODE_VERSION" && return
  say "building $NODE_CRATE $NODE_VERSION from crates.io: about 80 minutes on a 2-core machine."
  say "cargo prints each crate as it compiles; a line every minute says how long it has run."
  # The runtime's Wasm build must use the crate's own Cargo.lock (else it resolves fresh
  # dependency versions) and Rust $CONTRACTS_TOOLCHAIN (today's Rust rejects sp-io 38 in Wasm).
  cargo fetch --manifest-path "$ROOT/Cargo.toml" >/dev/null 2>&1 || true
  local index src t0 ticker
  index="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/index.crates.io-*/ 2>/dev/null | head -n 1)"
  [ -n "$index" ] || die "no crates.io registry source directory under ${CARGO_HOME:-$HOME/.cargo}/registry/src"
  src="${index%/}/$NODE_CRATE-$NODE_VERSION"
  t0=$(date +%s)
  ( while sleep 60; do say "node build running for $(elapsed "$t0")"; done ) &
  ticker=$!
  WASM_BUILD_WORKSPACE_HINT="$src" WASM_BUILD_TOOLCHAIN="$CONTRACTS_TOOLCHAIN" \
    cargo install "$NODE_CRATE" --version "$NODE_VERSION" --locked || { kill "$ticker"; die "the node build failed (see above)"; }
  kill "$ticker" 2>/dev/null || true
  say "node built in $(elapsed "$t0")"
}

ensure_tools() {
  local t0; t0=$(date +%s)
  ensure_debian
  ensure_contracts_toolchain
  ensure_cargo_contract
  ensure_node
  say "tools ready ($(elapsed "$t0")): $("$NODE_BIN" --version | head -n 1), $(cargo contract --version)"
}

# --- builds -------------------------------------------------------------------------------

# build_contract CRATE TARGET_DIR [FEATURES]: builds one bundle unless it is newer than every
# contract source.
build_contract() {
  local c="$1" target="$2" features="${3:-}" bundle="$2/ink/$1/$1.contract"
  if [ -f "$bundle" ] && [ -z "$(find "$ROOT/contracts" -newer "$bundle" -type f \( -name '*.rs' -o -name 'Cargo.toml' -o -name 'Cargo.lock' \) -print -quit)" ]; then
    return
  fi
  say "building contract $c${features:+ with $features} (cargo contract build --release)"
  ( cd "$ROOT/contracts/$c" && CARGO_TARGET_DIR="$target" cargo contract build --release --quiet ${features:+--features "$features"} ) ||
    die "the contract $c did not build (see above)"
}

build_contracts() {
  local c
  for c in "${CONTRACT_CRATES[@]}"; do build_contract "$c" "$CONTRACTS_TARGET"; done
}

build_upgrade_contracts() {
  local c
  for c in "${UPGRADE_TESTED[@]}"; do build_contract "$c" "$NEXT_TARGET" next-version; done
}

build_binaries() {
  say "building the SDV binaries"
  cargo build --quiet --manifest-path "$ROOT/Cargo.toml" --bin sdv-devnet --bin sdv --bin sdv-indexer
}

# --- PostgreSQL ---------------------------------------------------------------------------

pg_bin() {
  local d; d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [ -n "$d" ] || die "PostgreSQL is not installed (apt-get install postgresql)"
  echo "$d"
}

# Runs a PostgreSQL tool as the owner of the cluster (initdb refuses root).
pg_run() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# pg_start DIR PORT: a project-local cluster in DIR on 127.0.0.1:PORT, user sdv, trust auth.
pg_start() {
  local dir="$1" port="$2" bin; bin="$(pg_bin)"
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  if [ ! -f "$dir/PG_VERSION" ]; then
    pg_run "$bin/initdb" -D "$dir" -U sdv --auth=trust >/dev/null || die "initdb failed in $dir"
  fi
  pg_run "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null ||
    { tail -n 20 "$dir/server.log" >&2; die "PostgreSQL did not start on port $port (log above)"; }
}

pg_stop() {
  local dir="$1"
  [ -f "$dir/postmaster.pid" ] || return 0
  pg_run "$(pg_bin)/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1 || true
}

# --- commands -----------------------------------------------------------------------------

cmd_test() {
  local t0; t0=$(date +%s)
  ensure_tools
  build_contracts
  build_upgrade_contracts
  local pgdir port
  pgdir="$(mktemp -d /tmp/sdv-test-pg.XXXXXX)"
  port="$(free_port)"
  # shellcheck disable=SC2064
  trap "pg_stop '$pgdir'; rm -rf '$pgdir' '$pgdir.tests.log'" EXIT
  pg_start "$pgdir" "$port"
  export DATABASE_URL="postgres://sdv@127.0.0.1:$port/postgres"
  say "PostgreSQL for the tests on 127.0.0.1:$port"
  local log="$pgdir.tests.log"
  say "contract unit tests (Rust $CONTRACTS_TOOLCHAIN)"
  ( cd "$ROOT/contracts" && CARGO_TARGET_DIR="$CONTRACTS_TARGET" cargo test --workspace "$@" ) 2>&1 | tee "$log"
  say "building the binaries the system tests run"
  cargo build --quiet --manifest-path "$ROOT/Cargo.toml" --workspace --bins
  say "workspace tests: unit, database and end-to-end on a real node"
  cargo test --manifest-path "$ROOT/Cargo.toml" --workspace "$@" 2>&1 | tee -a "$log"
  say "all tests passed in $(elapsed "$t0")"
  # One closing line over every test binary.
  awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
  rm -f "$log"
}

cmd_up() {
  local t0; t0=$(date +%s)
  if [ -f "$STATE/devnet.pid" ] && kill -0 "$(cat "$STATE/devnet.pid")" 2>/dev/null; then
    die "the stack is already up (./dev status shows it, ./dev down stops it)"
  fi
  ensure_tools
  build_contracts
  build_binaries
  mkdir -p "$STATE"
  local pg_port pgdir
  pgdir="/tmp/sdv-dev-pg-$(id -u)"
  pg_port="$(free_port)"
  pg_start "$pgdir" "$pg_port"
  echo "$pgdir" > "$STATE/pg.dir"
  echo "postgres://sdv@127.0.0.1:$pg_port/postgres" > "$STATE/database.url"
  trap 'echo; cmd_down; exit 0' INT TERM

  say "starting the node and deploying the contracts"
  "$CARGO_TARGET_DIR/debug/sdv-devnet" up --base-path "$STATE/chain" \
    --deployment "$STATE/deployment.json" --node-pid-file "$STATE/node.pid" \
    > "$STATE/devnet.out" 2> "$STATE/devnet.log" &
  echo $! > "$STATE/devnet.pid"
  local waited=0
  until grep -q '^ready$' "$STATE/devnet.out" 2>/dev/null; do
    if ! kill -0 "$(cat "$STATE/devnet.pid")" 2>/dev/null; then
      tail -n 30 "$STATE/devnet.log" >&2
      cmd_down
      die "the node or the deployment failed (log above, full log in $STATE/devnet.log)"
    fi
    sleep 1; waited=$((waited + 1))
    [ "$waited" -lt 300 ] || { cmd_down; die "the node did not come up in 300 s (see $STATE/devnet.log)"; }
  done
  # Every `up` deploys new contracts, so the indexer starts over from block 0 for them.
  say "starting the indexer"
  echo "http://127.0.0.1:$(free_port)" > "$STATE/indexer.url"
  SDV_DEPLOYMENT="$STATE/deployment.json" DATABASE_URL="$(cat "$STATE/database.url")" \
    SDV_INDEXER_LISTEN="$(sed 's|http://||' "$STATE/indexer.url")" \
    "$CARGO_TARGET_DIR/debug/sdv-indexer" --reset > "$STATE/indexer.log" 2>&1 &
  echo $! > "$STATE/indexer.pid"
  say "the stack is up ($(elapsed "$t0"))"
  cmd_status || true
  echo
  echo "deployment file: $STATE/deployment.json"
  echo "Ctrl-C (or ./dev down in another terminal) stops everything."
  wait "$(cat "$STATE/devnet.pid")" 2>/dev/null || true
  cmd_down
}

cmd_down() {
  if [ -f "$STATE/indexer.pid" ]; then
    say "stopping the indexer (pid $(cat "$STATE/indexer.pid"))"
    kill -TERM "$(cat "$STATE/indexer.pid")" 2>/dev/null || true
    rm -f "$STATE/indexer.pid"
  fi
  if [ -f "$STATE/devnet.pid" ]; then
    local pid; pid="$(cat "$STATE/devnet.pid")"
    if kill -0 "$pid" 2>/dev/null; then
      say "stopping the node (pid $(cat "$STATE/node.pid" 2>/dev/null || echo '?'))"
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    fi
    rm -f "$STATE/devnet.pid" "$STATE/node.pid"
  fi
  if [ -f "$STATE/pg.dir" ]; then
    say "stopping PostgreSQL"
    pg_stop "$(cat "$STATE/pg.dir")"
    rm -f "$STATE/pg.dir"
  fi
}

rpc_answers() {
  curl -s -m 3 -H 'content-type: application/json' \
    -d '{"id":1,"jsonrpc":"2.0","method":"system_health","params":[]}' "$1" | grep -q '"result"'
}

cmd_status() {
  local ok=0 rpc db
  printf '%-22s %-50s %s\n' PART ADDRESS STATUS
  if [ -f "$STATE/deployment.json" ]; then
    rpc="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rpc_url"])' "$STATE/deployment.json")"
  fi
  if [ -n "${rpc:-}" ] && rpc_answers "${rpc/ws:/http:}"; then
    printf '%-22s %-50s %s\n' node "$rpc" up
  else
    printf '%-22s %-50s %s\n' node "${rpc:--}" down; ok=1
  fi
  db="$(cat "$STATE/database.url" 2>/dev/null || true)"
  local port="${db##*:}"; port="${port%%/*}"
  if [ -n "$db" ] && "$(pg_bin)/pg_isready" -q -h 127.0.0.1 -p "$port"; then
    printf '%-22s %-50s %s\n' postgresql "$db" up
  else
    printf '%-22s %-50s %s\n' postgresql "${db:--}" down; ok=1
  fi
  local ipid api health
  ipid="$(cat "$STATE/indexer.pid" 2>/dev/null || true)"
  api="$(cat "$STATE/indexer.url" 2>/dev/null || true)"
  health="$(curl -s -m 3 "$api/health" 2>/dev/null || true)"
  if [ -n "$ipid" ] && kill -0 "$ipid" 2>/dev/null && [ -n "$health" ]; then
    local at; at="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["at_block"])' "$health" 2>/dev/null || echo '?')"
    printf '%-22s %-50s %s\n' indexer "$api (openapi: $api/openapi.json)" "up, at block $at"
  else
    printf '%-22s %-50s %s\n' indexer "${api:--}" "down (log $STATE/indexer.log)"; ok=1
  fi
  if [ -f "$STATE/deployment.json" ] && [ "$ok" = 0 ]; then
    python3 - "$STATE/deployment.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for name, c in d["contracts"].items():
    print(f"{name:<22} {c['address']:<50} deployed")
PY
  fi
  return "$ok"
}

cmd_bench() {
  local group="${1:-all}" all=(contracts indexer relayer) groups g
  case "$group" in
    all) groups=("${all[@]}") ;;
    contracts|indexer|relayer) groups=("$group") ;;
    *) die "unknown benchmark group: $group (groups: ${all[*]})" ;;
  esac
  ensure_tools
  build_contracts
  # Throughput figures only mean something from an optimized build.
  say "building sdv-bench (release)"
  cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" -p sdv-system-tests --bin sdv-bench
  if [[ " ${groups[*]} " == *" indexer "* ]]; then
    # The indexer group writes into fresh databases of a PostgreSQL of its own; its chain is
    # kept in $CACHE/bench-chain between runs (the first run makes it, a few minutes).
    local pgdir port
    pgdir="$(mktemp -d /tmp/sdv-bench-pg.XXXXXX)"
    port="$(free_port)"
    # shellcheck disable=SC2064
    trap "pg_stop '$pgdir'; rm -rf '$pgdir'" EXIT
    pg_start "$pgdir" "$port"
    export DATABASE_URL="postgres://sdv@127.0.0.1:$port/postgres"
    export SDV_BENCH_CHAIN="$CACHE/bench-chain"
    say "PostgreSQL for the benchmarks on 127.0.0.1:$port"
  fi
  for g in "${groups[@]}"; do
    say "benchmark group $g"
    "$CARGO_TARGET_DIR/release/sdv-bench" "$g"
  done
}

cmd_metadata() {
  ensure_tools
  cargo build --quiet --manifest-path "$ROOT/Cargo.toml" --bin sdv-devnet
  "$CARGO_TARGET_DIR/debug/sdv-devnet" metadata --spawn --out "$ROOT/node-config/metadata/contracts-node.scale"
}
