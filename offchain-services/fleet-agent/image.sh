#!/usr/bin/env bash
# Makes the agent's image from a built binary, without a base image or a network:
#   offchain-services/fleet-agent/image.sh BINARY TAG DOCKER_SOCKET
# e.g. image.sh target/release/sdv-agent sdv-agent:0.1.0 /var/run/docker.sock
# The root file system holds the binary as /sdv-agent, the shared libraries `ldd` lists with
# their loader, and the CA certificates when the host has them. Run flags: see the crate docs.
set -euo pipefail

if [ $# -ne 3 ]; then
    echo "usage: $0 BINARY TAG DOCKER_SOCKET" >&2
    exit 2
fi
binary=$1 tag=$2 socket=$3
[ -x "$binary" ] || { echo "$binary is not an executable" >&2; exit 1; }
[ -S "$socket" ] || { echo "$socket is not a socket" >&2; exit 1; }

rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT

install -m 755 "$binary" "$rootfs/sdv-agent"
# Every library ldd resolves (`name => /path (addr)`) and the loader (`/path (addr)`).
ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u |
    while read -r lib; do
        mkdir -p "$rootfs$(dirname "$lib")"
        cp -L "$lib" "$rootfs$lib"
    done
mkdir -p "$rootfs/tmp" "$rootfs/etc" "$rootfs/var/lib/sdv-agent"
chmod 1777 "$rootfs/tmp"
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    mkdir -p "$rootfs/etc/ssl/certs"
    cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/"
fi

tar -C "$rootfs" --numeric-owner --owner=0 --group=0 -c . |
    docker -H "unix://$socket" import \
        --change 'ENTRYPOINT ["/sdv-agent"]' \
        --change 'ENV SDV_AGENT_IDENTITY_FILE=/var/lib/sdv-agent/identity.hex' \
        --change 'VOLUME ["/var/lib/sdv-agent"]' \
        --change 'EXPOSE 8055' \
        - "$tag"
