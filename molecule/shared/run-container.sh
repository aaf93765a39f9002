#!/usr/bin/env bash
# Ensures a long-lived systemd container (sandbox, seed) is up: reuses it when it answers, starts it when stopped,
# and recreates it when podman's state is stale (after a host reboot podman may still call a dead container running).
# Usage: run-container.sh NAME IMAGE [extra podman run options...]
set -euo pipefail
name=$1 image=$2
shift 2
if podman container exists "$name" && ! podman exec "$name" true 2>/dev/null; then
  podman start "$name" >/dev/null 2>&1 || true
  podman exec "$name" true 2>/dev/null || { echo "recreating $name (stale container state)" >&2; podman rm -f "$name" >/dev/null; }
fi
podman container exists "$name" ||
  podman run -d --name "$name" --hostname "$name" --systemd=always "$@" "$image" /lib/systemd/systemd >/dev/null
"$(dirname "$0")/wait-systemd.sh" "$name"
