#!/usr/bin/env bash
# Molecule's dependency step (.config/molecule/config.yml), before any container is made or removed: what `make up`
# sets up on this machine is there, or the run stops here saying what to run (instead of podman's own errors).
# Usage: check-host.sh IMAGE...
set -euo pipefail
here=$(dirname "$0")
for tool in podman runc; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed. Run \`make up\` (or \`make test\`) first." >&2; exit 1; }
done
CONTAINERS_CONF=$("$here/podman-env.sh" --check)
export CONTAINERS_CONF
for image in "$@"; do
  podman image exists "$image" ||
    { echo "image $image is missing. Run \`make up\` (or \`make image RELEASE=${image##*-}\`) first." >&2; exit 1; }
done
echo "host ready: podman settings $CONTAINERS_CONF, images $*"
