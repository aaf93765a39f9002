#!/usr/bin/env bash
# Runs Molecule scenarios in lanes: the lanes run at the same time, the runs of one lane one after another. The
# containers spend most of a scenario waiting (package installs, health deadlines, client timeouts), so two lanes
# on two cores take little more than the longer lane alone.
#
# Usage: lanes.sh REPORTS_DIR DEFAULT_RELEASE LANE...
#   LANE: runs separated by commas; RUN: a scenario, or scenario@release (Debian release of its images).
# Runs of one scenario share Molecule's state for it (its ephemeral directory and container names), so they must
# be in the same lane. Each run writes REPORTS_DIR/<scenario>-<release>.log; a failed run is added to
# REPORTS_DIR/failed-scenarios.txt (summary.py counts it) and its whole log is printed at the end.
set -uo pipefail
reports=$1 default_release=$2
shift 2
# Each run is the command a user types, `molecule test -s SCENARIO`, in the environment a user has: not the
# Makefile's CONTAINERS_CONF (.config/molecule/config.yml hands podman its settings), so `make test` proves that.
unset CONTAINERS_CONF

run_lane() {
  local run scenario release name started
  for run in ${1//,/ }; do
    scenario=${run%@*}
    release=${run#"$scenario"}
    release=${release#@}
    release=${release:-$default_release}
    name=$scenario-$release
    started=$SECONDS
    echo "[lanes] $name: started: MOLECULE_DEBIAN_RELEASE=$release molecule test -s $scenario"
    if MOLECULE_DEBIAN_RELEASE=$release molecule test -s "$scenario" >"$reports/$name.log" 2>&1; then
      echo "[lanes] $name: passed in $((SECONDS - started)) s"
    else
      echo "[lanes] $name: FAILED after $((SECONDS - started)) s (log: $reports/$name.log)"
      echo "$name" >>"$reports/failed-scenarios.txt"
    fi
  done
}

for lane in "$@"; do
  run_lane "$lane" &
done
wait

[ -s "$reports/failed-scenarios.txt" ] || exit 0
for name in $(cat "$reports/failed-scenarios.txt"); do
  echo "======== log of $name ========"
  cat "$reports/$name.log"
done
echo "failed scenarios: $(tr '\n' ' ' <"$reports/failed-scenarios.txt")"
exit 1
