#!/usr/bin/env bash
# Read the decision of a run folder with `dome status --json` (which also
# checks that the evidence verifies) and expose it as step outputs:
# gate-status (APPROVE, NEEDS_HUMAN, REJECT), promotion (promote, hold,
# stop) and verified (true, false). All three are empty for a shard, which
# has no decision of its own, and for a run that wrote no decision.
set -euo pipefail
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

run_dir=${DOME_RUN_DIR:?DOME_RUN_DIR is not set}
code=${DOME_EXIT_CODE:-}
gate_status="" promotion="" verified=""
if [[ ! -f $run_dir/run.manifest.json ]]; then
  summary "⛔ **dome release gate**: no decision was written (exit status ${code:-unknown}); the job log says why."
elif [[ -n ${DOME_SHARD:-} ]]; then
  summary "**dome release gate**: shard ${DOME_SHARD} recorded in \`$run_dir\`, no decision of its own: the merge job decides."
else
  set +e
  json=$("$python" -m pytest_dome status --json "$run_dir")
  set -e
  fields=$(printf '%s' "$json" | "$python" -c '
import json, sys
doc = json.load(sys.stdin)
print(doc.get("gate_status") or "", doc.get("action") or "", str(doc["verified"]).lower(), sep="\n")
')
  # One field a line: read splits a line on blanks and would shift an empty field.
  { read -r gate_status; read -r promotion; read -r verified; } <<<"$fields"
  if [[ $verified != true ]]; then
    summary "⛔ **dome release gate**: the evidence in \`$run_dir\` does not verify: $(printf '%s' "$json" | "$python" -c 'import json, sys; print(json.load(sys.stdin).get("problem"))')"
  fi
fi
put gate-status "$gate_status"
put promotion "$promotion"
put verified "$verified"
echo "gate-status=$gate_status promotion=$promotion verified=$verified"
