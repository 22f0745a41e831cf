# Functions behind ./dev. Sourced, not run.
# shellcheck shell=bash
# shellcheck source=node-config/scripts/versions.sh
source "$ROOT/node-config/scripts/versions.sh"

CACHE="${SDV_CACHE:-$HOME/.cache/sdv}"
# The stack's state (pids, logs, addresses, secrets, the chain); SDV_DEV_STATE runs a second
# stack beside the first (every port is chosen free when the spec's is taken).
STATE="${SDV_DEV_STATE:-$ROOT/.dev-state}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
# Incremental caches grow without bound across many builds; CI and test builds do not need them.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
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
  ensure_debian_packages "${DEBIAN_PACKAGES[@]}"
}

# ensure_debian_packages PACKAGE...: installs those of the Debian packages that are missing.
ensure_debian_packages() {
  local missing=() p
  for p in "$@"; do
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

ensure_garage() {
  # `garage cargo:2.5.0 [features: ...]` when built from crates.io.
  if garage --version 2>/dev/null | grep -qE "[ :v]$GARAGE_VERSION( |$)"; then return; fi
  install_prebuilt garage "$GARAGE_VERSION" && return
  say "building garage $GARAGE_VERSION from crates.io (about 14 minutes on 2 cores)"
  local t0; t0=$(date +%s)
  cargo install garage --version "$GARAGE_VERSION" --locked
  say "garage built in $(elapsed "$t0")"
}

# The PyPI packages, for whoever runs ./dev: root installs for every user, anyone else (outside
# a virtualenv) into their own site-packages. Debian's Python refuses pip outside a virtualenv
# (PEP 668) unless told --break-system-packages; the packages are pinned and few, so we say so.
ensure_python_packages() {
  python3 -c 'import aiosmtpd' 2>/dev/null && return
  local user=() out
  if [ "$(id -u)" != 0 ] && python3 -c 'import sys; sys.exit(sys.prefix != sys.base_prefix)'; then
    user=(--user)
  fi
  say "installing from PyPI: ${PYTHON_PACKAGES[*]}"
  out="$(python3 -m pip install -q "${user[@]}" "${PYTHON_PACKAGES[@]}" 2>&1)" && return
  if grep -q externally-managed-environment <<< "$out"; then
    python3 -m pip install -q "${user[@]}" --break-system-packages "${PYTHON_PACKAGES[@]}" ||
      die "pip could not install ${PYTHON_PACKAGES[*]} (see above)"
  else
    printf '%s\n' "$out" >&2
    die "pip could not install ${PYTHON_PACKAGES[*]} (see above)"
  fi
}

# The npm packages, each defined (with its pinned version and the `overrides` that make it
# run on today's Node.js) by node-config/npm/<name>/package.json and installed into
# $CACHE/npm/<name>: arlocal, a local Arweave gateway; js-ipfs, an IPFS node serving the Kubo
# RPC API. `./dev up` runs them, and the tests find them by SDV_NPM_DIR.
NPM_PACKAGES=(arlocal ipfs)

# npm_program NAME: the program of the npm package NAME, relative to its install directory.
npm_program() {
  case "$1" in
    arlocal) echo node_modules/arlocal/bin/index.js ;;
    ipfs) echo node_modules/.bin/jsipfs ;;
    *) die "unknown npm package: $1" ;;
  esac
}

# Installs each of NPM_PACKAGES whose program is missing or whose package.json in the
# repository differs from the one installed, with Debian's nodejs and npm (installed when
# missing).
ensure_npm_packages() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    ensure_debian_packages nodejs npm
    command -v node >/dev/null || die "node is missing after installing Debian's nodejs"
    command -v npm >/dev/null || die "npm is missing after installing Debian's npm"
  fi
  local name dir t0
  for name in "${NPM_PACKAGES[@]}"; do
    dir="$CACHE/npm/$name"
    if [ -e "$dir/$(npm_program "$name")" ] &&
       cmp -s "$ROOT/node-config/npm/$name/package.json" "$dir/package.json"; then
      continue
    fi
    say "installing the npm package $name (node-config/npm/$name/package.json) into $dir: npm install, a few minutes"
    t0=$(date +%s)
    mkdir -p "$dir"
    cp "$ROOT/node-config/npm/$name/package.json" "$dir/package.json"
    if ! ( cd "$dir" && npm install --no-audit --no-fund > install.log 2>&1 ); then
      # Without the package.json the next run tries again.
      rm -f "$dir/package.json"
      tail -n 20 "$dir/install.log" >&2
      die "npm install of $name failed (log above, full log in $dir/install.log)"
    fi
    [ -e "$dir/$(npm_program "$name")" ] ||
      { rm -f "$dir/package.json"; die "npm installed $name but $dir/$(npm_program "$name") is missing (log in $dir/install.log)"; }
    say "npm package $name installed in $(elapsed "$t0") (node $(node --version))"
  done
}

ensure_tools() {
  local t0; t0=$(date +%s)
  ensure_debian
  ensure_python_packages
  ensure_contracts_toolchain
  ensure_cargo_contract
  ensure_node
  ensure_garage
  say "tools ready ($(elapsed "$t0")): $("$NODE_BIN" --version | head -n 1), $(cargo contract --version), $(garage --version | cut -d' ' -f1-2)"
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
  cargo build --quiet --manifest-path "$ROOT/Cargo.toml" --bin sdv-devnet --bin sdv --bin sdv-indexer \
    --bin sdv-relayer --bin sdv-storage --bin sdv-notify --bin sdv-archival --bin sdv-recovery \
    --bin sdv-fleet-hq --bin sdv-agent
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

# free_ports N: N distinct free loopback ports on one line (all held open while chosen).
free_ports() {
  python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$1"
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

# --- Garage (S3) --------------------------------------------------------------------------

garage_cli() {
  local dir="$1"; shift
  garage -c "$dir/garage.toml" "$@"
}

# garage_fail DIR MESSAGE: shows the end of the server's log, stops it and gives up.
garage_fail() {
  tail -n 20 "$1/garage.log" >&2 2>/dev/null || true
  garage_stop "$1"
  die "$2 (log above, full log in $1/garage.log)"
}

# garage_start DIR: a single-node Garage with its data, config, log and pid in DIR, on free
# loopback ports, with the access key `sdv` allowed to read, write and own the bucket
# $SDV_S3_BUCKET (default jil-sdv). Writes DIR/s3.env with the SDV_S3_* variables a client
# needs. A DIR from an earlier run keeps its data, layout, key and bucket (on new ports).
garage_start() {
  local dir="$1" bucket="${SDV_S3_BUCKET:-jil-sdv}" rpc_port s3_port admin_port secret
  garage_stop "$dir" # a server of an earlier run that was not stopped
  mkdir -p "$dir/meta" "$dir/data"
  read -r rpc_port s3_port admin_port <<< "$(free_ports 3)"
  secret="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  # Path-style requests only (http://127.0.0.1:port/bucket/key), so no root_domain; the admin
  # API serves /health without a token and the CLI talks RPC, so no admin token either.
  ( umask 077; cat > "$dir/garage.toml" <<EOF
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$rpc_port"
rpc_public_addr = "127.0.0.1:$rpc_port"
rpc_secret = "$secret"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$s3_port"

[admin]
api_bind_addr = "127.0.0.1:$admin_port"
EOF
  )
  garage -c "$dir/garage.toml" server >> "$dir/garage.log" 2>&1 &
  echo $! > "$dir/garage.pid"
  local waited=0
  until garage_cli "$dir" status >/dev/null 2>&1; do
    kill -0 "$(cat "$dir/garage.pid")" 2>/dev/null || garage_fail "$dir" "Garage exited at start"
    sleep 0.2; waited=$((waited + 1))
    [ "$waited" -lt 150 ] || garage_fail "$dir" "Garage did not answer in 30 s"
  done
  # One node in zone dc1 holding every partition: layout version 1, once per DIR.
  local layout id
  layout="$(garage_cli "$dir" layout show 2>&1)" || garage_fail "$dir" "garage layout show failed: $layout"
  if ! grep -q '^Current cluster layout version: [1-9]' <<< "$layout"; then
    id="$(garage_cli "$dir" node id -q 2>/dev/null)" || garage_fail "$dir" "garage node id failed"
    garage_cli "$dir" layout assign -z dc1 -c 1G "${id%%@*}" >/dev/null ||
      garage_fail "$dir" "garage layout assign failed"
    garage_cli "$dir" layout apply --version 1 >/dev/null || garage_fail "$dir" "garage layout apply failed"
  fi
  garage_cli "$dir" key info sdv >/dev/null 2>&1 || garage_cli "$dir" key create sdv >/dev/null ||
    garage_fail "$dir" "garage key create sdv failed"
  garage_cli "$dir" bucket info "$bucket" >/dev/null 2>&1 || garage_cli "$dir" bucket create "$bucket" >/dev/null ||
    garage_fail "$dir" "garage bucket create $bucket failed"
  garage_cli "$dir" bucket allow --read --write --owner "$bucket" --key sdv >/dev/null ||
    garage_fail "$dir" "garage bucket allow on $bucket failed"
  local key_id secret_key
  key_id="$(garage_cli "$dir" key info --key-id sdv)" || garage_fail "$dir" "garage key info failed"
  secret_key="$(garage_cli "$dir" key info --secret-key sdv)" || garage_fail "$dir" "garage key info failed"
  ( umask 077; cat > "$dir/s3.env" <<EOF
SDV_S3_ENDPOINT=http://127.0.0.1:$s3_port
SDV_S3_REGION=garage
SDV_S3_BUCKET=$bucket
SDV_S3_ACCESS_KEY_ID=$key_id
SDV_S3_SECRET_ACCESS_KEY=$secret_key
EOF
  )
  # Ready when the admin API says so ("Garage is fully operational": layout applied, quorum).
  waited=0
  until curl -sf -m 3 -o /dev/null "http://127.0.0.1:$admin_port/health"; do
    sleep 0.2; waited=$((waited + 1))
    [ "$waited" -lt 150 ] || garage_fail "$dir" "Garage was not healthy in 30 s"
  done
  s3_answers "http://127.0.0.1:$s3_port" || garage_fail "$dir" "Garage's S3 API does not answer on port $s3_port"
}

# garage_stop DIR: stops the Garage of DIR by its pid (a clean shutdown takes a few seconds).
garage_stop() {
  local dir="$1" pid
  [ -f "$dir/garage.pid" ] || return 0
  pid="$(cat "$dir/garage.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/garage.pid"
}

# s3_answers URL: any HTTP answer at all (Garage says 403 to anonymous requests).
s3_answers() {
  [ "$(curl -s -m 3 -o /dev/null -w '%{http_code}' "$1/" 2>/dev/null)" != 000 ]
}

# --- commands -----------------------------------------------------------------------------

cmd_test() {
  local t0; t0=$(date +%s)
  ensure_tools
  ensure_npm_packages
  # The tests start their own arlocal and IPFS nodes from these installs.
  export SDV_NPM_DIR="$CACHE/npm"
  build_contracts
  build_upgrade_contracts
  local pgdir port s3dir
  pgdir="$(mktemp -d /tmp/sdv-test-pg.XXXXXX)"
  s3dir="$(mktemp -d /tmp/sdv-test-garage.XXXXXX)"
  port="$(free_port)"
  # shellcheck disable=SC2064
  trap "pg_stop '$pgdir'; garage_stop '$s3dir'; rm -rf '$pgdir' '$pgdir.tests.log' '$s3dir'" EXIT
  pg_start "$pgdir" "$port"
  export DATABASE_URL="postgres://sdv@127.0.0.1:$port/postgres"
  say "PostgreSQL for the tests on 127.0.0.1:$port"
  # One Garage for the whole run; the tests find it by the SDV_S3_* variables.
  garage_start "$s3dir"
  set -a
  # shellcheck source=/dev/null
  source "$s3dir/s3.env"
  set +a
  say "Garage (S3) for the tests at $SDV_S3_ENDPOINT, bucket $SDV_S3_BUCKET"
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
  local t0 detach=0; t0=$(date +%s)
  case "${1:-}" in
    -d|--detach) detach=1 ;;
    "") ;;
    *) die "usage: ./dev up [--detach]" ;;
  esac
  if [ -f "$STATE/devnet.pid" ] && kill -0 "$(cat "$STATE/devnet.pid")" 2>/dev/null; then
    die "the stack is already up (./dev status shows it, ./dev down stops it)"
  fi
  ensure_tools
  ensure_npm_packages
  build_contracts
  build_binaries
  mkdir -p "$STATE"
  local pg_port pgdir
  # PostgreSQL runs as its own user, which may not enter $STATE: its data lives under /tmp.
  pgdir="/tmp/sdv-dev-pg-$(id -u)-$(printf '%s' "$STATE" | md5sum | cut -c1-8)"
  pg_port="$(free_port)"
  # Every `up` starts a new chain, so the services' state starts over with it: a database of
  # an earlier chain (or of an earlier version's migrations) would only mislead.
  pg_stop "$pgdir"
  rm -rf "$pgdir"
  pg_start "$pgdir" "$pg_port"
  echo "$pgdir" > "$STATE/pg.dir"
  echo "postgres://sdv@127.0.0.1:$pg_port/postgres" > "$STATE/database.url"
  trap 'echo; cmd_down; exit 0' INT TERM
  say "starting Garage (S3)"
  garage_start "$STATE/garage"

  say "starting the node and deploying the contracts"
  # A new chain each time: the deployer instantiates the same code with the same salt, which a
  # chain that has it already refuses (DuplicateContract); the database starts over with it.
  rm -rf "$STATE/chain"
  # `ready` in an earlier run's output must not pass for this one's.
  rm -f "$STATE/devnet.out" "$STATE/clock-ahead"
  "$CARGO_TARGET_DIR/debug/sdv-devnet" up --base-path "$STATE/chain" \
    --deployment "$STATE/deployment.json" --node-pid-file "$STATE/node.pid" --clock-file "$STATE/clock-ahead" \
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
  # Archival first: the storage service reads through its IPFS node and Arweave gateway when
  # S3 is down.
  start_archival
  start_storage_services
  start_docker
  start_registry
  start_fleet
  say "the stack is up ($(elapsed "$t0"))"
  local healthy=0
  cmd_status || healthy=$?
  echo
  echo "deployment file: $STATE/deployment.json"
  if [ "$detach" = 1 ]; then
    trap - INT TERM
    [ "$healthy" = 0 ] || die "a part did not come up (table above); ./dev down stops the rest"
    echo "./dev down stops everything."
    return 0
  fi
  echo "Ctrl-C (or ./dev down in another terminal) stops everything."
  wait "$(cat "$STATE/devnet.pid")" 2>/dev/null || true
  cmd_down
}

# port_or_free PORT: PORT when nothing listens on it, else a free loopback port.
port_or_free() {
  if python3 -c 'import socket,sys; s=socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null; then
    echo "$1"
  else
    free_port
  fi
}

# start_service NAME COMMAND...: runs COMMAND in the background with its log in $STATE/NAME.log
# and its pid in $STATE/NAME.pid (the environment is the caller's).
start_service() {
  local name="$1"; shift
  "$@" > "$STATE/$name.log" 2>&1 &
  echo $! > "$STATE/$name.pid"
}

# The storage services on the spec's ports when free: the upload gateway (9015), the storage
# service (8900), the compliance API (8100), the notification service (8400) with a local SMTP
# server whose mail lands in $STATE/mail, and a relayer per role (storage attestor, retention
# executor) sending what they enqueue.
start_storage_services() {
  local db secrets gateway storage compliance notify smtp
  db="$(cat "$STATE/database.url")"
  secrets="$STATE/secrets"
  mkdir -p "$secrets" "$STATE/mail"
  chmod 700 "$secrets"
  for f in notify-api-key webhook-secret; do
    [ -s "$secrets/$f" ] || python3 -c 'import secrets; print(secrets.token_hex(32))' > "$secrets/$f"
    chmod 600 "$secrets/$f"
  done
  ensure_token
  gateway="$(port_or_free 9015)"; storage="$(port_or_free 8900)"
  compliance="$(port_or_free 8100)"; notify="$(port_or_free 8400)"; smtp="$(free_port)"
  say "starting the storage services (gateway :$gateway, storage :$storage, compliance :$compliance, notify :$notify, mail :$smtp)"
  start_service mail python3 -m aiosmtpd -n -l "127.0.0.1:$smtp" -c aiosmtpd.handlers.Mailbox "$STATE/mail"
  echo "smtp://127.0.0.1:$smtp" > "$STATE/mail.url"
  local role
  for role in storage-attestor retention-executor; do
    SDV_DEPLOYMENT="$STATE/deployment.json" DATABASE_URL="$db" SDV_RELAYER_SIGNER="//sdv//$role" \
      SDV_INDEXER_URL="$(cat "$STATE/indexer.url")" \
      start_service "relayer-$role" "$CARGO_TARGET_DIR/debug/sdv-relayer" run
  done
  DATABASE_URL="$db" SDV_NOTIFY_LISTEN="127.0.0.1:$notify" \
    SDV_NOTIFY_API_KEY_FILE="$secrets/notify-api-key" SDV_WEBHOOK_SECRET_FILE="$secrets/webhook-secret" \
    SDV_SMTP_URL="smtp://127.0.0.1:$smtp" \
    start_service notify "$CARGO_TARGET_DIR/debug/sdv-notify"
  echo "http://127.0.0.1:$notify" > "$STATE/notify.url"
  start_recovery "$db" "http://127.0.0.1:$notify"
  # shellcheck disable=SC1091
  ( set -a; source "$STATE/garage/s3.env"; set +a
    DATABASE_URL="$db" SDV_DEPLOYMENT="$STATE/deployment.json" SDV_INDEXER_URL="$(cat "$STATE/indexer.url")" \
      SDV_GATEWAY_LISTEN="127.0.0.1:$gateway" SDV_STORAGE_LISTEN="127.0.0.1:$storage" \
      SDV_COMPLIANCE_LISTEN="127.0.0.1:$compliance" SDV_STORAGE_SPOOL="$STATE/spool" \
      SDV_RECOVERY_PUBLIC_KEY="$(cat "$STATE/recovery-key.pub")" SDV_NOTIFY_URL="http://127.0.0.1:$notify" \
      SDV_NOTIFY_API_KEY_FILE="$secrets/notify-api-key" \
      SDV_IPFS_API_URL="$(cat "$STATE/ipfs-api.url")" SDV_ARWEAVE_URL="$(cat "$STATE/arweave-gateway.url")" \
      start_service storage "$CARGO_TARGET_DIR/debug/sdv-storage" )
  echo "http://127.0.0.1:$gateway" > "$STATE/gateway.url"
  echo "http://127.0.0.1:$storage" > "$STATE/storage.url"
  echo "http://127.0.0.1:$compliance" > "$STATE/compliance.url"
  local waited=0 url
  for url in "$STATE/gateway.url" "$STATE/notify.url" "$STATE/keys.url" "$STATE/ceremony.url"; do
    until curl -s -m 2 -o /dev/null "$(cat "$url")/health"; do
      sleep 1; waited=$((waited + 1))
      [ "$waited" -lt 60 ] || { say "$(basename "$url" .url) did not answer in 60 s (see $STATE/*.log)"; return 0; }
    done
  done
}

# The services start_storage_services started, in the order they stop.
STORAGE_SERVICES=(storage recovery notify relayer-storage-attestor relayer-retention-executor mail)

# --- keys: a SoftHSM2 token and sdv-recovery ---------------------------------------------

# ensure_token: the token "sdv-dev" in $STATE/softhsm (made once, kept across up and down: it
# holds the recovery key every document's data key is wrapped to), with random user and SO
# PINs in $STATE/secrets. Exports SOFTHSM2_CONF; writes the recovery public key to
# $STATE/recovery-key.pub.
ensure_token() {
  local dir="$STATE/softhsm" secrets="$STATE/secrets"
  mkdir -p "$dir/tokens" "$secrets"
  chmod 700 "$dir" "$secrets"
  cat > "$dir/softhsm2.conf" <<CONF
directories.tokendir = $dir/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
  export SOFTHSM2_CONF="$dir/softhsm2.conf"
  if ! softhsm2-util --show-slots 2>/dev/null | grep -q 'Label:.*sdv-dev'; then
    say "initializing the SoftHSM2 token sdv-dev ($dir)"
    for f in hsm-pin hsm-so-pin; do
      python3 -c 'import secrets; print(secrets.token_hex(16))' > "$secrets/$f"
      chmod 600 "$secrets/$f"
    done
    softhsm2-util --init-token --free --label sdv-dev \
      --pin "$(cat "$secrets/hsm-pin")" --so-pin "$(cat "$secrets/hsm-so-pin")" >/dev/null ||
      { cmd_down; die "softhsm2-util could not initialize the token"; }
  fi
  SDV_PKCS11_TOKEN=sdv-dev SDV_PKCS11_PIN_FILE="$secrets/hsm-pin" \
    "$CARGO_TARGET_DIR/debug/sdv-recovery" public-key > "$STATE/recovery-key.pub" ||
    { cmd_down; die "the recovery key could not be made in the token (sdv-recovery public-key)"; }
}

# start_recovery DATABASE_URL NOTIFY_URL: sdv-recovery with key management on 8935 and the
# ceremony on 8130 when free, its keys in the token of ensure_token.
start_recovery() {
  local keys ceremony
  keys="$(port_or_free 8935)"; ceremony="$(port_or_free 8130)"
  say "starting key management (:$keys) and the recovery ceremony (:$ceremony), keys in the token sdv-dev"
  DATABASE_URL="$1" SDV_INDEXER_URL="$(cat "$STATE/indexer.url")" SDV_NOTIFY_URL="$2" \
    SDV_NOTIFY_API_KEY_FILE="$STATE/secrets/notify-api-key" \
    SDV_PKCS11_TOKEN=sdv-dev SDV_PKCS11_PIN_FILE="$STATE/secrets/hsm-pin" \
    SDV_KEYS_LISTEN="127.0.0.1:$keys" SDV_CEREMONY_LISTEN="127.0.0.1:$ceremony" \
    start_service recovery "$CARGO_TARGET_DIR/debug/sdv-recovery"
  echo "http://127.0.0.1:$keys" > "$STATE/keys.url"
  echo "http://127.0.0.1:$ceremony" > "$STATE/ceremony.url"
}

# --- archival: arlocal (Arweave), IPFS, sdv-archival -------------------------------------

# part_fail NAME MESSAGE: shows the end of $STATE/NAME.log, stops what ./dev up started and
# gives up.
part_fail() {
  tail -n 20 "$STATE/$1.log" >&2 2>/dev/null || true
  cmd_down
  die "$2 (log above, full log in $STATE/$1.log)"
}

# wait_for NAME SECONDS COMMAND...: polls COMMAND every 0.2 s until it succeeds; gives up with
# NAME's log when NAME's process exits or SECONDS pass.
wait_for() {
  local name="$1" secs="$2" waited=0; shift 2
  until "$@" >/dev/null 2>&1; do
    kill -0 "$(cat "$STATE/$name.pid")" 2>/dev/null || part_fail "$name" "$name exited at start"
    sleep 0.2; waited=$((waited + 1))
    [ "$waited" -lt $((secs * 5)) ] || part_fail "$name" "$name did not answer in $secs s"
  done
}

ipfs_answers() {
  curl -sf -m 3 -X POST -o /dev/null "$1/api/v0/id"
}

# start_arlocal: arlocal, the local Arweave gateway, on 127.0.0.1:1984 when free (else a free
# port), its database kept in $STATE/arlocal between runs (--persist). It listens on every
# interface by itself; the preload loopback.cjs keeps it on loopback. It never mines by
# itself: ./dev mines (see start_arlocal_miner), the services never do.
start_arlocal() {
  local port dir="$STATE/arlocal"
  port="$(port_or_free 1984)"
  mkdir -p "$dir"
  say "starting arlocal (Arweave) on 127.0.0.1:$port"
  # arlocal takes --dbpath relative to its working directory and writes its request log there.
  ( cd "$dir" && start_service arlocal node -r "$ROOT/node-config/npm/arlocal/loopback.cjs" \
      "$CACHE/npm/arlocal/$(npm_program arlocal)" "$port" --dbpath db --persist --hidelogs )
  echo "http://127.0.0.1:$port" > "$STATE/arweave-gateway.url"
  wait_for arlocal 30 curl -sf -m 2 -o /dev/null "http://127.0.0.1:$port/info"
}

# start_ipfs: a js-ipfs node with its repository in $STATE/ipfs (created once), its RPC API on
# 127.0.0.1:5001 when free (else a free port), swarm, gateway and gRPC on free loopback ports,
# no peers, discovery, routing or pubsub (node-config/npm/ipfs/configure.cjs, as the tests).
start_ipfs() {
  local repo="$STATE/ipfs" jsipfs="$CACHE/npm/ipfs/$(npm_program ipfs)" api swarm gateway grpc
  if [ ! -f "$repo/config" ]; then
    say "creating the IPFS repository $repo"
    rm -rf "$repo"
    IPFS_PATH="$repo" node "$jsipfs" init --profile test > "$STATE/ipfs-init.log" 2>&1 ||
      { tail -n 20 "$STATE/ipfs-init.log" >&2; rm -rf "$repo"; cmd_down; die "jsipfs init failed (log above)"; }
  fi
  api="$(port_or_free 5001)"
  read -r swarm gateway grpc <<< "$(free_ports 3)"
  node "$ROOT/node-config/npm/ipfs/configure.cjs" "$repo" "$swarm" "$api" "$gateway" "$grpc" ||
    { cmd_down; die "configuring the IPFS repository $repo failed"; }
  # A node that was killed (not stopped) leaves its lock behind, and the next one refuses the
  # repository for 20 s; none of ours runs now (cmd_up refuses a stack that is up).
  if [ -d "$repo/repo.lock" ] && ! { [ -f "$STATE/ipfs.pid" ] && kill -0 "$(cat "$STATE/ipfs.pid")" 2>/dev/null; }; then
    rm -rf "$repo/repo.lock"
  fi
  say "starting the IPFS node (RPC API on 127.0.0.1:$api)"
  IPFS_PATH="$repo" start_service ipfs node "$jsipfs" daemon
  echo "http://127.0.0.1:$api" > "$STATE/ipfs-api.url"
  wait_for ipfs 60 ipfs_answers "http://127.0.0.1:$api"
}

# start_arlocal_miner: mines an arlocal block every 30 s so that Arweave transactions confirm.
start_arlocal_miner() {
  # `sleep & wait` so that SIGTERM (./dev down) ends the loop at once.
  start_service arlocal-miner bash -c \
    'trap "kill \$s 2>/dev/null; exit 0" TERM; while :; do sleep 30 & s=$!; wait $s; curl -s -m 10 -o /dev/null "$1/mine"; done' \
    sdv-arlocal-miner "$(cat "$STATE/arweave-gateway.url")"
}

# fund_arweave_wallet WALLET: mints 1000 AR to WALLET on arlocal when it holds less than 100 AR
# (a fresh wallet, or a fresh arlocal database) and mines a block.
fund_arweave_wallet() {
  local wallet="$1" arweave address balance
  arweave="$(cat "$STATE/arweave-gateway.url")"
  address="$("$CARGO_TARGET_DIR/debug/sdv-archival" address "$wallet")" ||
    { cmd_down; die "sdv-archival address $wallet failed"; }
  balance="$(curl -sf -m 5 "$arweave/wallet/$address/balance")" ||
    part_fail arlocal "arlocal did not tell the balance of $address"
  if [ "${#balance}" -lt 15 ]; then # below 10^14 winston = 100 AR
    say "funding the archival Arweave wallet $address with 1000 AR on arlocal"
    curl -sf -m 10 -o /dev/null "$arweave/mint/$address/1000000000000000" &&
      curl -sf -m 10 -o /dev/null "$arweave/mine" ||
      part_fail arlocal "funding $address on arlocal failed"
  fi
}

# start_archival: arlocal, IPFS, the miner, then sdv-archival with its Arweave API on 8950 and
# its IPFS pinning API on 8920 when free, paying from the wallet in $STATE/secrets (created
# once) and reading ciphertexts from Garage as sdv-storage does.
start_archival() {
  local secrets="$STATE/secrets" wallet arweave_port pinning_port
  wallet="$secrets/arweave-wallet.json"
  mkdir -p "$secrets"
  chmod 700 "$secrets"
  start_arlocal
  start_ipfs
  start_arlocal_miner
  if [ ! -s "$wallet" ]; then
    say "creating the archival Arweave wallet $wallet"
    "$CARGO_TARGET_DIR/debug/sdv-archival" keygen "$wallet" >/dev/null ||
      { cmd_down; die "sdv-archival keygen $wallet failed"; }
  fi
  fund_arweave_wallet "$wallet"
  arweave_port="$(port_or_free 8950)"; pinning_port="$(port_or_free 8920)"
  say "starting the archival services (Arweave :$arweave_port, IPFS pinning :$pinning_port)"
  # shellcheck disable=SC1091
  ( set -a; source "$STATE/garage/s3.env"; set +a
    DATABASE_URL="$(cat "$STATE/database.url")" SDV_DEPLOYMENT="$STATE/deployment.json" \
      SDV_INDEXER_URL="$(cat "$STATE/indexer.url")" \
      SDV_ARWEAVE_LISTEN="127.0.0.1:$arweave_port" SDV_IPFS_PINNING_LISTEN="127.0.0.1:$pinning_port" \
      SDV_ARWEAVE_URL="$(cat "$STATE/arweave-gateway.url")" SDV_ARWEAVE_WALLET_FILE="$wallet" \
      SDV_IPFS_API_URL="$(cat "$STATE/ipfs-api.url")" \
      start_service archival "$CARGO_TARGET_DIR/debug/sdv-archival" )
  echo "http://127.0.0.1:$arweave_port" > "$STATE/arweave.url"
  echo "http://127.0.0.1:$pinning_port" > "$STATE/ipfs-pinning.url"
  local waited=0
  until curl -s -m 2 -o /dev/null "http://127.0.0.1:$arweave_port/health"; do
    sleep 1; waited=$((waited + 1))
    [ "$waited" -lt 60 ] || { say "archival did not answer in 60 s (see $STATE/archival.log)"; return 0; }
  done
}

# --- fleet: dockerd, the registry, sdv-fleet-hq and three agents --------------------------

# The validator nodes of the dev fleet, each with its agent and one node container.
FLEET_NODES=(validator-1 validator-2 validator-3)
# The node image every fleet node runs at first (made by ./dev up, not approved on-chain).
NODE_IMAGE=sdv-node
NODE_FIRST_TAG=1.0.0

# docker_dir: dockerd's directory (data, exec root, socket) for this stack, under /tmp: the
# exec root holds unix sockets, whose paths must stay short.
docker_dir() {
  echo "/tmp/sdv-dev-docker-$(id -u)-$(printf '%s' "$STATE" | md5sum | cut -c1-8)"
}

dockerd_bin() {
  if [ -x /usr/sbin/dockerd ]; then echo /usr/sbin/dockerd; else command -v dockerd; fi
}

# dk ARGS...: the docker client against this stack's engine.
dk() {
  docker -H "$(cat "$STATE/docker.host")" "$@"
}

# start_docker: Debian's dockerd on a socket of the stack's own, a fresh data root each `up`
# (the chain is new too), no bridge and no iptables rules: containers run with --network none.
start_docker() {
  local dir; dir="$(docker_dir)"
  rm -rf "$dir"
  mkdir -p "$dir"
  echo "unix://$dir/docker.sock" > "$STATE/docker.host"
  say "starting dockerd (unix://$dir/docker.sock)"
  start_service dockerd "$(dockerd_bin)" --host "unix://$dir/docker.sock" --data-root "$dir/data" \
    --exec-root "$dir/exec" --pidfile "$dir/docker.pid" \
    --iptables=false --ip6tables=false --bridge=none --storage-driver=vfs
  wait_for dockerd 60 dk version
}

# start_registry: Debian's docker-registry on 127.0.0.1:5000 when free, its store in
# $STATE/registry.
start_registry() {
  local port dir="$STATE/registry"
  port="$(port_or_free 5000)"
  rm -rf "$dir"
  mkdir -p "$dir/data"
  cat > "$dir/config.yml" <<YML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
YML
  say "starting the registry on 127.0.0.1:$port"
  start_service registry docker-registry serve "$dir/config.yml"
  echo "127.0.0.1:$port" > "$STATE/registry.url"
  wait_for registry 30 curl -sf -m 2 -o /dev/null "http://127.0.0.1:$port/v2/"
}

# make_node_image REFERENCE MARKER: an image of a busybox rootfs holding /release = MARKER,
# imported (nothing is pulled), tagged REFERENCE and pushed to the registry.
make_node_image() {
  local rootfs busybox
  rootfs="$(mktemp -d)"
  busybox="$(command -v busybox || echo /bin/busybox)"
  mkdir -p "$rootfs/bin"
  cp "$busybox" "$rootfs/bin/busybox"
  for applet in sh sleep cat echo; do ln -s busybox "$rootfs/bin/$applet"; done
  printf '%s' "$2" > "$rootfs/release"
  tar -C "$rootfs" -c . | dk import --change 'CMD ["/bin/sh","-c","trap \"exit 0\" TERM; sleep 2147483647 & wait"]' - "$1" >/dev/null
  rm -rf "$rootfs"
  dk push "$1" >/dev/null
}

# start_fleet: HQ on 8054 and an agent per fleet node on 8055.. (each when free), every node
# running its node container from $NODE_IMAGE:$NODE_FIRST_TAG; the admin key and HQ's signing
# secret are made once in $STATE/secrets.
start_fleet() {
  local secrets="$STATE/secrets" hq registry i port node
  for f in hq-admin-key hq-signing-secret; do
    [ -s "$secrets/$f" ] || python3 -c 'import secrets; print(secrets.token_hex(32))' > "$secrets/$f"
    chmod 600 "$secrets/$f"
  done
  registry="$(cat "$STATE/registry.url")"
  say "making the node image $registry/$NODE_IMAGE:$NODE_FIRST_TAG"
  make_node_image "$registry/$NODE_IMAGE:$NODE_FIRST_TAG" "sdv-node $NODE_FIRST_TAG" ||
    part_fail dockerd "making the node image failed"
  hq="$(port_or_free 8054)"
  say "starting fleet HQ on 127.0.0.1:$hq"
  DATABASE_URL="$(cat "$STATE/database.url")" SDV_DEPLOYMENT="$STATE/deployment.json" \
    SDV_FLEET_HQ_LISTEN="127.0.0.1:$hq" HQ_ADMIN_API_KEY_FILE="$secrets/hq-admin-key" \
    SIGNING_SECRET_FILE="$secrets/hq-signing-secret" \
    start_service fleet-hq "$CARGO_TARGET_DIR/debug/sdv-fleet-hq"
  echo "http://127.0.0.1:$hq" > "$STATE/fleet-hq.url"
  wait_for fleet-hq 60 curl -sf -m 2 -o /dev/null "http://127.0.0.1:$hq/health"
  i=0
  for node in "${FLEET_NODES[@]}"; do
    i=$((i + 1))
    port="$(port_or_free $((8054 + i)))"
    dk run -d --name "$node-node" --network none --label "sdv.node=$node" \
      "$registry/$NODE_IMAGE:$NODE_FIRST_TAG" >/dev/null ||
      part_fail dockerd "starting the node container $node-node failed"
    mkdir -p "$STATE/fleet/$node"
    say "starting the agent of $node on 127.0.0.1:$port"
    PORT="$port" NODE_ID="$node" AGENT_URL="http://127.0.0.1:$port" JILHQ_URL="http://127.0.0.1:$hq" \
      JILHQ_SHARED_SECRET_FILE="$secrets/hq-signing-secret" REGISTRY_URL="$registry" \
      DOCKER_HOST="$(cat "$STATE/docker.host")" SDV_AGENT_TRACK=devnet \
      SDV_AGENT_IDENTITY_FILE="$STATE/fleet/$node/identity.hex" SDV_DEPLOYMENT="$STATE/deployment.json" \
      start_service "agent-$i" "$CARGO_TARGET_DIR/debug/sdv-agent"
    echo "http://127.0.0.1:$port" > "$STATE/agent-$i.url"
  done
  for i in $(seq ${#FLEET_NODES[@]}); do
    wait_for "agent-$i" 60 curl -sf -m 2 -o /dev/null "$(cat "$STATE/agent-$i.url")/health"
  done
}

# The fleet's processes, in the order they stop.
FLEET_SERVICES=(agent-1 agent-2 agent-3 fleet-hq registry)

# stop_docker: the node containers, then dockerd (which stops containerd), then its directory.
stop_docker() {
  [ -f "$STATE/dockerd.pid" ] || return 0
  if kill -0 "$(cat "$STATE/dockerd.pid")" 2>/dev/null; then
    local node
    for node in "${FLEET_NODES[@]}"; do dk rm -f "$node-node" >/dev/null 2>&1 || true; done
  fi
  stop_and_wait dockerd
  rm -rf "$(docker_dir)" 2>/dev/null || true
}

# fleet_status: the fleet's rows of ./dev status; returns 1 when one is down.
fleet_status() {
  local ok=0 url i node
  if [ -f "$STATE/docker.host" ] && dk version >/dev/null 2>&1; then
    printf '%-28s %-52s %s\n' dockerd "$(cat "$STATE/docker.host")" "up, $(dk ps -q | wc -l) containers"
  else
    printf '%-28s %-52s %s\n' dockerd "$(cat "$STATE/docker.host" 2>/dev/null || echo -)" "down (log $STATE/dockerd.log)"; ok=1
  fi
  url="$(cat "$STATE/registry.url" 2>/dev/null || true)"
  if [ -n "$url" ] && curl -sf -m 3 -o /dev/null "http://$url/v2/"; then
    printf '%-28s %-52s %s\n' registry "$url" up
  else
    printf '%-28s %-52s %s\n' registry "${url:--}" "down (log $STATE/registry.log)"; ok=1
  fi
  url="$(cat "$STATE/fleet-hq.url" 2>/dev/null || true)"
  if [ -n "$url" ] && curl -sf -m 3 -o /dev/null "$url/health"; then
    printf '%-28s %-52s %s\n' fleet-hq "$url (admin key: $STATE/secrets/hq-admin-key)" up
  else
    printf '%-28s %-52s %s\n' fleet-hq "${url:--}" "down (log $STATE/fleet-hq.log)"; ok=1
  fi
  i=0
  for node in "${FLEET_NODES[@]}"; do
    i=$((i + 1))
    url="$(cat "$STATE/agent-$i.url" 2>/dev/null || true)"
    if [ -n "$url" ] && curl -s -m 3 "$url/health" 2>/dev/null | grep -q '"docker":"connected"'; then
      printf '%-28s %-52s %s\n' "agent $node" "$url" up
    else
      printf '%-28s %-52s %s\n' "agent $node" "${url:--}" "down (log $STATE/agent-$i.log)"; ok=1
    fi
  done
  return "$ok"
}

# The archival processes, in the order they stop (the services before what they use).
ARCHIVAL_SERVICES=(archival arlocal-miner ipfs arlocal)

# stop_and_wait NAME: SIGTERM to $STATE/NAME.pid, then up to 15 s for it to end (the IPFS node
# releases its repository's lock on the way out), then SIGKILL.
stop_and_wait() {
  local name="$1" pid
  [ -f "$STATE/$name.pid" ] || return 0
  pid="$(cat "$STATE/$name.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    say "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$STATE/$name.pid"
}

cmd_down() {
  local name
  for name in "${FLEET_SERVICES[@]}"; do stop_and_wait "$name"; done
  stop_docker
  for name in "${ARCHIVAL_SERVICES[@]}"; do stop_and_wait "$name"; done
  for name in "${STORAGE_SERVICES[@]}"; do
    if [ -f "$STATE/$name.pid" ]; then
      say "stopping $name (pid $(cat "$STATE/$name.pid"))"
      kill -TERM "$(cat "$STATE/$name.pid")" 2>/dev/null || true
      rm -f "$STATE/$name.pid"
    fi
  done
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
  if [ -f "$STATE/garage/garage.pid" ]; then
    say "stopping Garage (pid $(cat "$STATE/garage/garage.pid"))"
    garage_stop "$STATE/garage"
  fi
  if [ -f "$STATE/pg.dir" ]; then
    say "stopping PostgreSQL"
    pg_stop "$(cat "$STATE/pg.dir")"
    # Every `up` starts a fresh database: nothing in this one is wanted again.
    rm -rf "$(cat "$STATE/pg.dir")"
    rm -f "$STATE/pg.dir"
  fi
}

rpc_answers() {
  curl -s -m 3 -H 'content-type: application/json' \
    -d '{"id":1,"jsonrpc":"2.0","method":"system_health","params":[]}' "$1" | grep -q '"result"'
}

cmd_status() {
  local ok=0 rpc db
  printf '%-28s %-52s %s\n' PART ADDRESS STATUS
  if [ -f "$STATE/deployment.json" ]; then
    rpc="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rpc_url"])' "$STATE/deployment.json")"
  fi
  if [ -n "${rpc:-}" ] && rpc_answers "${rpc/ws:/http:}"; then
    printf '%-28s %-52s %s\n' node "$rpc" up
  else
    printf '%-28s %-52s %s\n' node "${rpc:--}" down; ok=1
  fi
  db="$(cat "$STATE/database.url" 2>/dev/null || true)"
  local port="${db##*:}"; port="${port%%/*}"
  if [ -n "$db" ] && "$(pg_bin)/pg_isready" -q -h 127.0.0.1 -p "$port"; then
    printf '%-28s %-52s %s\n' postgresql "$db" up
  else
    printf '%-28s %-52s %s\n' postgresql "${db:--}" down; ok=1
  fi
  local s3
  s3="$(sed -n 's/^SDV_S3_ENDPOINT=//p' "$STATE/garage/s3.env" 2>/dev/null || true)"
  if [ -n "$s3" ] && s3_answers "$s3"; then
    printf '%-28s %-52s %s\n' "s3 (garage)" "$s3 (env: $STATE/garage/s3.env)" up
  else
    printf '%-28s %-52s %s\n' "s3 (garage)" "${s3:--}" "down (log $STATE/garage/garage.log)"; ok=1
  fi
  local ipid api health
  ipid="$(cat "$STATE/indexer.pid" 2>/dev/null || true)"
  api="$(cat "$STATE/indexer.url" 2>/dev/null || true)"
  health="$(curl -s -m 3 "$api/health" 2>/dev/null || true)"
  if [ -n "$ipid" ] && kill -0 "$ipid" 2>/dev/null && [ -n "$health" ]; then
    local at; at="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["at_block"])' "$health" 2>/dev/null || echo '?')"
    printf '%-28s %-52s %s\n' indexer "$api (openapi: $api/openapi.json)" "up, at block $at"
  else
    printf '%-28s %-52s %s\n' indexer "${api:--}" "down (log $STATE/indexer.log)"; ok=1
  fi
  local part url
  for part in gateway storage compliance notify keys ceremony; do
    url="$(cat "$STATE/$part.url" 2>/dev/null || true)"
    local log=storage
    case "$part" in notify) log=notify ;; keys|ceremony) log=recovery ;; esac
    if [ -n "$url" ] && curl -sf -m 3 -o /dev/null "$url/health"; then
      printf '%-28s %-52s %s\n' "$part" "$url" up
    else
      printf '%-28s %-52s %s\n' "$part" "${url:--}" "down (log $STATE/$log.log)"; ok=1
    fi
  done
  if [ -s "$STATE/recovery-key.pub" ]; then
    printf '%-28s %-52s %s\n' "hsm token" "sdv-dev (SOFTHSM2_CONF=$STATE/softhsm/softhsm2.conf)" "recovery key $(cut -c1-16 "$STATE/recovery-key.pub")..."
  fi
  for part in relayer-storage-attestor relayer-retention-executor mail; do
    local pid; pid="$(cat "$STATE/$part.pid" 2>/dev/null || true)"
    url="$( [ "$part" = mail ] && cat "$STATE/mail.url" 2>/dev/null || echo "$(cat "$STATE/database.url" 2>/dev/null) (outbox)")"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      printf '%-28s %-52s %s\n' "$part" "$url" "up (pid $pid)"
    else
      printf '%-28s %-52s %s\n' "$part" "$url" "down (log $STATE/$part.log)"; ok=1
    fi
  done
  local arweave height
  arweave="$(cat "$STATE/arweave-gateway.url" 2>/dev/null || true)"
  height="$(curl -sf -m 3 "$arweave/info" 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["height"])' 2>/dev/null || true)"
  if [ -n "$arweave" ] && [ -n "$height" ]; then
    printf '%-28s %-52s %s\n' arlocal "$arweave" "up, at block $height"
  else
    printf '%-28s %-52s %s\n' arlocal "${arweave:--}" "down (log $STATE/arlocal.log)"; ok=1
  fi
  url="$(cat "$STATE/ipfs-api.url" 2>/dev/null || true)"
  if [ -n "$url" ] && ipfs_answers "$url"; then
    printf '%-28s %-52s %s\n' ipfs "$url (repo $STATE/ipfs)" up
  else
    printf '%-28s %-52s %s\n' ipfs "${url:--}" "down (log $STATE/ipfs.log)"; ok=1
  fi
  for part in archival-arweave archival-ipfs; do
    url="$(cat "$STATE/$( [ "$part" = archival-arweave ] && echo arweave || echo ipfs-pinning).url" 2>/dev/null || true)"
    if [ -n "$url" ] && curl -sf -m 3 -o /dev/null "$url/health"; then
      printf '%-28s %-52s %s\n' "$part" "$url" up
    else
      printf '%-28s %-52s %s\n' "$part" "${url:--}" "down (log $STATE/archival.log)"; ok=1
    fi
  done
  local mpid; mpid="$(cat "$STATE/arlocal-miner.pid" 2>/dev/null || true)"
  if [ -n "$mpid" ] && kill -0 "$mpid" 2>/dev/null; then
    printf '%-28s %-52s %s\n' arlocal-miner "${arweave:--} (a block every 30 s)" "up (pid $mpid)"
  else
    printf '%-28s %-52s %s\n' arlocal-miner "${arweave:--}" "down (log $STATE/arlocal-miner.log)"; ok=1
  fi
  fleet_status || ok=1
  if [ -f "$STATE/deployment.json" ] && [ "$ok" = 0 ]; then
    python3 - "$STATE/deployment.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for name, c in d["contracts"].items():
    print(f"{name:<28} {c['address']:<52} deployed")
PY
  fi
  return "$ok"
}

cmd_bench() {
  local group="${1:-all}" all=(contracts indexer relayer storage fleet) groups g
  case "$group" in
    all) groups=("${all[@]}") ;;
    contracts|indexer|relayer|storage|fleet) groups=("$group") ;;
    *) die "unknown benchmark group: $group (groups: ${all[*]})" ;;
  esac
  ensure_tools
  build_contracts
  # Throughput figures only mean something from an optimized build.
  say "building sdv-bench (release)"
  cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" -p sdv-system-tests --bin sdv-bench
  local pgdir s3dir
  if [[ " ${groups[*]} " == *" indexer "* || " ${groups[*]} " == *" storage "* ||
        " ${groups[*]} " == *" fleet "* ]]; then
    # The indexer, storage and fleet groups write into fresh databases of a PostgreSQL of their own;
    # the indexer's chain is kept in $CACHE/bench-chain between runs (the first run makes it, a
    # few minutes).
    local port
    pgdir="$(mktemp -d /tmp/sdv-bench-pg.XXXXXX)"
    port="$(free_port)"
    # shellcheck disable=SC2064
    trap "pg_stop '$pgdir'; rm -rf '$pgdir'" EXIT
    pg_start "$pgdir" "$port"
    export DATABASE_URL="postgres://sdv@127.0.0.1:$port/postgres"
    export SDV_BENCH_CHAIN="$CACHE/bench-chain"
    say "PostgreSQL for the benchmarks on 127.0.0.1:$port"
  fi
  if [[ " ${groups[*]} " == *" storage "* ]]; then
    # The storage group runs the services the way the system tests do, from release builds
    # next to sdv-bench, against a Garage of its own.
    say "building sdv-storage, sdv-notify, sdv-relayer and sdv-indexer (release)"
    cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" \
      --bin sdv-storage --bin sdv-notify --bin sdv-relayer --bin sdv-indexer
    s3dir="$(mktemp -d /tmp/sdv-bench-garage.XXXXXX)"
    # shellcheck disable=SC2064
    trap "pg_stop '$pgdir'; rm -rf '$pgdir'; garage_stop '$s3dir'; rm -rf '$s3dir'" EXIT
    garage_start "$s3dir"
    set -a
    # shellcheck source=/dev/null
    source "$s3dir/s3.env"
    set +a
    say "Garage (S3) for the benchmarks at $SDV_S3_ENDPOINT, bucket $SDV_S3_BUCKET"
  fi
  if [[ " ${groups[*]} " == *" fleet "* ]]; then
    # The fleet group runs HQ and its agents from release builds next to sdv-bench, on a
    # Docker engine and registry of its own (docker.io, docker-registry, busybox-static).
    say "building sdv-fleet-hq and sdv-agent (release)"
    cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" --bin sdv-fleet-hq --bin sdv-agent
  fi
  # The machine, printed with the figures (BENCHMARKS.md records it): other work running at
  # the same time shows in the load average.
  echo "machine: $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  for g in "${groups[@]}"; do
    say "benchmark group $g"
    "$CARGO_TARGET_DIR/release/sdv-bench" "$g"
    echo "after $g: load average $(cut -d' ' -f1-3 /proc/loadavg)"
  done
}

# cmd_demo: `sdv demo` on the running stack, with its addresses and the fleet's admin key.
cmd_demo() {
  [ -f "$STATE/devnet.pid" ] && kill -0 "$(cat "$STATE/devnet.pid")" 2>/dev/null ||
    die "the stack is not up: start it with ./dev up --detach (or ./dev up in another terminal)"
  cargo build --quiet --manifest-path "$ROOT/Cargo.toml" --bin sdv
  SDV_DEV_STATE="$STATE" SDV_DEPLOYMENT="$STATE/deployment.json" \
    HQ_ADMIN_API_KEY_FILE="$STATE/secrets/hq-admin-key" REGISTRY_URL="$(cat "$STATE/registry.url")" \
    DOCKER_HOST="$(cat "$STATE/docker.host")" \
    "$CARGO_TARGET_DIR/debug/sdv" demo "$@"
}

# The fault drill (./dev drill): node-config/scripts/drill.sh.
if [ -f "$ROOT/node-config/scripts/drill.sh" ]; then
  # shellcheck source=node-config/scripts/drill.sh
  source "$ROOT/node-config/scripts/drill.sh"
else
  cmd_drill() { die "the fault drill is not in this checkout"; }
fi

cmd_metadata() {
  ensure_tools
  cargo build --quiet --manifest-path "$ROOT/Cargo.toml" --bin sdv-devnet
  "$CARGO_TARGET_DIR/debug/sdv-devnet" metadata --spawn --out "$ROOT/node-config/metadata/contracts-node.scale"
}
