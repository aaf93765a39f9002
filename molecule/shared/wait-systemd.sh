#!/usr/bin/env bash
# Waits until systemd inside a container has finished booting (running or degraded).
set -euo pipefail
name=$1
for _ in $(seq 60); do
  state=$(podman exec "$name" systemctl is-system-running 2>/dev/null || true)
  case "$state" in running|degraded) exit 0 ;; esac
  sleep 1
done
echo "systemd in $name did not finish booting (state: ${state:-unknown})" >&2
exit 1
