#!/usr/bin/env bash
# Prints the path of a containers.conf fitted to this machine (runc, ulimits within the hard limits) and renders it
# from templates/containers.conf.in. Usage: export CONTAINERS_CONF="$(molecule/shared/podman-env.sh)"
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out="$top/.cache/containers.conf"
mkdir -p "$top/.cache"
nofile=$(ulimit -Hn)
nproc=$(ulimit -Hu)
# podman's own defaults (1048576) fail with "setrlimit ... Operation not permitted" where the VM caps lower.
[ "$nofile" = unlimited ] && nofile=1048576
[ "$nproc" = unlimited ] && nproc=1048576
[ "$nproc" -gt 32768 ] && nproc=32768
sed -e "s/@NOFILE@/$nofile/g" -e "s/@NPROC@/$nproc/g" "$top/templates/containers.conf.in" > "$out.tmp"
mv "$out.tmp" "$out"
echo "$out"
