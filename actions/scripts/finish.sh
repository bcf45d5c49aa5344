#!/usr/bin/env bash
# Fail the job the way the gated command did: on REJECT always, on the
# statuses of fail-on, and on every other non-zero exit status (bad
# options, no tests collected, an internal error).
set -euo pipefail

code=${DOME_EXIT_CODE:-}
status=${DOME_GATE_STATUS:-}
if [[ $status == REJECT ]]; then
  echo "::error title=pytest-dome::run ${DOME_RUN_ID:-}: REJECT (the evidence is in the artifact ${DOME_ARTIFACT_NAME:-})"
  exit 1
fi
if [[ -z $code ]]; then
  echo "::error title=pytest-dome::the gated command did not run to the end"
  exit 1
fi
if [[ $code != 0 ]]; then
  echo "::error title=pytest-dome::${DOME_RUN_ID:+run $DOME_RUN_ID: }exit status $code${status:+ ($status)}"
  exit "$code"
fi
