# shellcheck shell=bash
# Shared by the scripts of the pytest-dome GitHub Actions (sourced, not run).
# Every input arrives as an environment variable: nothing a user types is
# ever spliced into a script.

# shellcheck disable=SC2034 # used by the scripts that source this file
python=${DOME_PYTHON:-python3}

# put NAME VALUE: one step output (a newline in VALUE would start another
# output, so it becomes a space).
put() {
  printf '%s=%s\n' "$1" "${2//$'\n'/ }" >>"${GITHUB_OUTPUT:?GITHUB_OUTPUT is not set}"
}

# summary TEXT: a paragraph on the job's summary page, when there is one.
summary() {
  if [[ -n ${GITHUB_STEP_SUMMARY:-} ]]; then
    printf '%s\n\n' "$1" >>"$GITHUB_STEP_SUMMARY"
  fi
}

# default_run_id [SUFFIX]: the workflow run and its attempt, so a re-run
# never meets the evidence of the first attempt.
default_run_id() {
  printf 'gh-%s-%s%s' "${GITHUB_RUN_ID:?GITHUB_RUN_ID is not set}" "${GITHUB_RUN_ATTEMPT:-1}" "${1:-}"
}

# valid_run_id ID: ID is a run id pytest-dome accepts (1 to 128 of A-Z a-z
# 0-9 . _ -, starting with a letter or digit, no '..'), checked before any
# path is built from it; otherwise an error annotation (the id on one line)
# and status 1.
valid_run_id() {
  if [[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$ && $1 != *..* ]]; then return 0; fi
  local shown=${1//[$'\r\n']/ }
  echo "::error title=pytest-dome::run-id: invalid run id '$shown': use 1 to 128 characters from A-Z a-z 0-9 . _ -, starting with a letter or digit, without '..'"
  summary "⛔ **dome release gate**: invalid run id (the job log says why); nothing ran."
  return 1
}

# absolute PATH: PATH made absolute against the current folder.
absolute() {
  case $1 in
    /*) printf '%s' "$1" ;;
    *) printf '%s/%s' "$PWD" "$1" ;;
  esac
}
