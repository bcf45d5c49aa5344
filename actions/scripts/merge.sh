#!/usr/bin/env bash
# `dome merge` for the merge action: every shard run folder found under
# DOME_SHARDS_DIR (one per downloaded artifact) becomes one run with one
# decision, whose Markdown summary goes to the job's page.
set -euo pipefail
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

shards_dir=${DOME_SHARDS_DIR:?DOME_SHARDS_DIR is not set}
run_id=${DOME_RUN_ID:-}
if [[ -z $run_id ]]; then run_id=$(default_run_id); fi
if ! valid_run_id "$run_id"; then
  put exit-code 2
  exit 0
fi
run_dir="$(absolute "${DOME_RUNTIME_DIR:-ops/runtime/runs}")/$run_id"
put run-id "$run_id"
put run-dir "$run_dir"
put artifact-name "${DOME_ARTIFACT_NAME:-dome-run}"

shards=()
if [[ -d $shards_dir ]]; then
  while IFS= read -r -d '' manifest; do
    shards+=("$(dirname "$manifest")")
  done < <(find "$shards_dir" -name run.manifest.json -print0 | sort -z)
fi
if [[ ${#shards[@]} -eq 0 ]]; then
  echo "::error title=pytest-dome::no shard run folder (with a run.manifest.json) under $shards_dir"
  put exit-code 2
  exit 0
fi
echo "+ dome merge --run-id $run_id --out $run_dir ${shards[*]}"
set +e
"$python" -m pytest_dome merge --run-id "$run_id" --out "$run_dir" "${shards[@]}"
code=$?
set -e
put exit-code "$code"
if [[ -f $run_dir/run.manifest.json && -n ${GITHUB_STEP_SUMMARY:-} ]]; then
  "$python" -m pytest_dome report "$run_dir" --markdown >>"$GITHUB_STEP_SUMMARY" || true
fi
