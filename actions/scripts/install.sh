#!/usr/bin/env bash
# Install pytest-dome for the action: from the action's own checkout (the
# default), a release from the package index (DOME_VERSION=0.1.0), or not at
# all (DOME_VERSION=none: the environment already has it).
set -euo pipefail
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

version=${DOME_VERSION:-}
case $version in
  none) ;;
  "") "$python" -m pip install --disable-pip-version-check "${DOME_ACTION_ROOT:?DOME_ACTION_ROOT is not set}" ;;
  *[!A-Za-z0-9.+!-]*)
    echo "::error title=pytest-dome::pytest-dome-version must be a version such as 0.1.0, empty or none; got '$version'"
    exit 2
    ;;
  *) "$python" -m pip install --disable-pip-version-check "pytest-dome==$version" ;;
esac
"$python" -m pytest_dome --help >/dev/null
