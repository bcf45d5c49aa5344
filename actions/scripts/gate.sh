#!/usr/bin/env bash
# The gated pytest session of the pytest-dome action. Its exit status is
# recorded as the output exit-code, not returned: the evidence is uploaded
# first, and finish.sh fails the job afterwards.
set -euo pipefail
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

shard=${DOME_SHARD:-}
index=${shard%%/*}
run_id=${DOME_RUN_ID:-}
if [[ -z $run_id ]]; then
  run_id=$(default_run_id "${shard:+-shard-$index}")
fi
# No path is built from a run id that is not one (run-dir would point
# outside the runtime folder, and the upload step would take that folder).
if ! valid_run_id "$run_id"; then
  put exit-code 4
  exit 0
fi
runtime_dir=${DOME_RUNTIME_DIR:-ops/runtime/runs}
artifact=${DOME_ARTIFACT_NAME:-}
if [[ -z $artifact ]]; then
  artifact=dome-run
  if [[ -n $shard ]]; then artifact="dome-shard-$index"; fi
fi

args=(-m pytest "--dome-run-id=$run_id" "--dome-out=$runtime_dir")
if [[ -n ${DOME_PACKET:-} ]]; then args+=("--dome-packet=$DOME_PACKET"); fi
if [[ -n ${DOME_BASE_REF:-} ]]; then args+=("--dome-base-ref=$DOME_BASE_REF"); fi
if [[ -n ${DOME_THRESHOLD:-} ]]; then args+=("--dome-risk-threshold=$DOME_THRESHOLD"); fi
if [[ -n ${DOME_FAIL_ON:-} ]]; then args+=("--dome-fail-on=$DOME_FAIL_ON"); fi
if [[ -n $shard ]]; then args+=("--dome-shard=$shard"); fi
if [[ -n ${DOME_WORKERS:-} ]]; then args+=("--dome-max-workers=$DOME_WORKERS"); fi
# One verify command a line; pytest-dome splits each like a shell would and
# runs it without one.
while IFS= read -r line; do
  if [[ -n ${line//[[:space:]]/} ]]; then args+=("--dome-verify=$line"); fi
done <<<"${DOME_VERIFY:-}"
# Extra pytest arguments, split like a shell would (quotes group words) but
# never evaluated by one.
if [[ -n ${DOME_PYTEST_ARGS:-} ]]; then
  words=$(mktemp)
  "$python" -c '
import os, shlex, sys
try:
    words = shlex.split(os.environ["DOME_PYTEST_ARGS"])
except ValueError as exc:
    sys.exit(f"::error title=pytest-dome::pytest-args: {exc}")
sys.stdout.write("".join(w + "\0" for w in words))
' >"$words"
  while IFS= read -r -d '' word; do args+=("$word"); done <"$words"
  rm -f "$words"
fi

put run-id "$run_id"
put run-dir "$(absolute "$runtime_dir")/$run_id"
put artifact-name "$artifact"
echo "+ $python ${args[*]}"
set +e
"$python" "${args[@]}"
code=$?
set -e
put exit-code "$code"
