# Tool versions, pinned in one place.
NODE_CRATE=contracts-node
NODE_VERSION=0.42.0
NODE_BIN=substrate-contracts-node
CARGO_CONTRACT_VERSION=5.0.3
CONTRACTS_TOOLCHAIN=1.86.0
# S3 for the document bytes (crates.io `garage`, binary `garage`).
GARAGE_VERSION=2.5.0
# PyPI packages, pinned: the local SMTP server the notification tests deliver to.
PYTHON_PACKAGES=(aiosmtpd==1.4.6)
# Debian packages: the database, the node's build dependencies, the clock mover, pip.
DEBIAN_PACKAGES=(postgresql datefudge protobuf-compiler clang libclang-dev xz-utils curl python3-pip softhsm2 docker.io docker-registry busybox-static)
# sha256 of the unpacked binaries accepted from a directory of prebuilt tools
# (SDV_PREBUILT_DIR, files named <binary>-<version>-x86_64-linux-gnu.xz).
declare -A PREBUILT_SHA256=(
  [substrate-contracts-node-0.42.0]=2e12904de944468656cdf33eae671a544a1650722ae9d1545c9e5e51d4bc25a7
  [cargo-contract-5.0.3]=8fb119a7e97248dca9bb327cea0ac15a3e3d3ad7c349971e29320949fc194290
  [garage-2.5.0]=cb6cc2594f0d650e012fe2d5e184f728e7d330a49edc692844ba67e83810ceb1
)
