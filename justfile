# pytest-dome developer recipes. `just --list` shows them.

set shell := ["bash", "-euo", "pipefail", "-c"]

python := env_var_or_default("PYTHON", "python3")
run_id := "pkt-dome-demo-0001"
run_dir := "ops/runtime/runs/" + run_id
compat_venv := "ops/runtime/compat-venv"

# List the recipes.
default:
    @just --list

# Validate the SSOT contracts: schemas against the metaschema, catalog and policy against their schemas, codes against the code.
validate-ssot:
    {{python}} -m pytest_dome validate-ssot --report ops/runtime/m02/ssot.validation.json

# Run the whole test suite.
test *args:
    {{python}} -m pytest -q -n 2 {{args}}

# The compatibility suite (tests/compat, docs/compatibility.md): the newest release of each plugin of the `compat` extra, in their own virtual environment (ops/runtime/compat-venv).
compat *args:
    test -x {{compat_venv}}/bin/python || {{python}} -m venv {{compat_venv}}
    {{compat_venv}}/bin/python -m pip install -q --upgrade pip
    {{compat_venv}}/bin/python -m pip install -q --upgrade --upgrade-strategy eager -e ".[compat]"
    PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 {{compat_venv}}/bin/python -m pytest -p xdist -p pytester -q -n 2 tests/compat {{args}}

# The oldest versions pyproject.toml promises (Python 3.10, pytest 8.3 and every other floor), in a fresh virtual environment (ops/runtime/oldest-venv): the base install alone gates a run, then smoke and the whole suite.
oldest *args:
    {{python}} scripts/oldest.py {{args}}

# A gated run of the demo suite (run id pkt-dome-demo-0001), then every artifact checked against its schema and the manifest.
smoke:
    {{python}} -m pytest demo -q -p no:cacheprovider --dome-run-id={{run_id}} --dome-packet=demo/packet.json --dome-replace
    {{python}} -m pytest_dome verify {{run_dir}}
    {{python}} -m pytest_dome replay {{run_dir}}
    @test "$({{python}} -c 'import json,sys; print(json.load(open(sys.argv[1]))["status"])' {{run_dir}}/gate/gate.decision.json)" = APPROVE || { echo "smoke: expected APPROVE" >&2; exit 1; }

# Check that the manual documents every reason code, [tool.dome] key, option, subcommand and schema (report in ops/runtime/m01/).
docs-check:
    {{python}} scripts/docs_check.py

# The performance benchmark of issue 7 (--quick for a fast indicative run); results in ops/runtime/bench/.
bench *args:
    {{python}} benchmarks/bench.py {{args}}

# The readers' fuzz test with thousands of mutated run folders (default 3000 cases; `just test` runs 300).
fuzz examples="3000":
    DOME_FUZZ_EXAMPLES={{examples}} {{python}} -m pytest -q -p no:randomly -s tests/faults/test_fuzz_runs.py

# Lint and format check; the import contract (pyproject.toml [tool.importlinter], docs/design.md "Floors").
lint:
    {{python}} -m ruff check src tests scripts
    {{python}} -m ruff format --check src tests scripts
    PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}" lint-imports --no-cache --no-logo

# Strict type check of the package.
typecheck:
    {{python}} -m mypy
