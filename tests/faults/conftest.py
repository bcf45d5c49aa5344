from __future__ import annotations

import pytest

from .fuzzruns import Runs, make_runs


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """Real runs (see fuzzruns.RUNS), made once per session (per xdist worker)."""
    return make_runs(tmp_path_factory.mktemp("fuzz-runs"))
