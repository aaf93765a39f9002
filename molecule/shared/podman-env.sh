#!/usr/bin/env bash
# Prints the path of a containers.conf fitted to this machine (runc, ulimits within the hard limits) and renders it
# from templates/containers.conf.in. Molecule hands it to podman in every step (.config/molecule/config.yml); `make`
# renders it (podman-conf) and exports it for its own podman calls.
# Usage: podman-env.sh            render, print the path
#        podman-env.sh --check    print the path when the rendered file is there and current, else fail saying so
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out="$top/.cache/containers.conf"
nofile=$(ulimit -Hn)
nproc=$(ulimit -Hu)
# podman's own defaults (1048576) fail with "setrlimit ... Operation not permitted" where the VM caps lower.
[ "$nofile" = unlimited ] && nofile=1048576
[ "$nproc" = unlimited ] && nproc=1048576
[ "$nproc" -gt 32768 ] && nproc=32768
render() { sed -e "s/@NOFILE@/$nofile/g" -e "s/@NPROC@/$nproc/g" "$top/templates/containers.conf.in"; }
if [ "${1:-}" = --check ]; then
  if [ ! -f "$out" ]; then
    echo "podman is not set up for this checkout: $out is missing. Run \`make up\` (or \`make test\`) first." >&2
    exit 1
  fi
  if [ "$(render)" != "$(cat "$out")" ]; then
    echo "$out is out of date (this machine's limits or templates/containers.conf.in changed). Run \`make up\`." >&2
    exit 1
  fi
  echo "$out"
  exit 0
fi
mkdir -p "$top/.cache"
render >"$out.tmp"
mv "$out.tmp" "$out"
echo "$out"
