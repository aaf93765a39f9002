#!/usr/bin/env bash
# Builds a systemd-ready Debian base image with debootstrap and imports it as localhost/websocket-<release>.
# No registry is needed; the image is cached and the build is skipped when it exists.
# Usage: build-image.sh [bookworm|trixie]
set -euo pipefail
release=${1:-bookworm}
image="localhost/websocket-$release"
if podman image exists "$image"; then
  echo "image $image exists"
  exit 0
fi
mirror=${DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
  # Use the mirror apt already uses on this machine (deb822 or one-line format), else the public one.
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $3 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
fi
rootfs=$(mktemp -d /var/tmp/websocket-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
echo "building $image from $mirror (debootstrap, about 2 minutes)"
debootstrap --variant=minbase \
  --include=systemd,systemd-sysv,python3,python3-apt,sudo,dbus,iproute2,procps,ca-certificates \
  "$release" "$rootfs" "$mirror" >/dev/null
# Keep the image small: no cached .debs. Age the apt lists so that the first apt task with cache_valid_time updates them.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb
touch -d @0 "$rootfs"/var/lib/apt/lists "$rootfs"/var/lib/apt/lists/* 2>/dev/null || true
tar -C "$rootfs" -c . | podman import --change 'CMD ["/lib/systemd/systemd"]' - "$image" >/dev/null
echo "image $image built"
