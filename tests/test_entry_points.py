"""The README's commands, every `python -m` entry point and the benchmarks, run from the clone root.

There the checkout's own packages come first on sys.path (they shadow the installed
ones) and hold no compiled engine: `core._extension` takes the installed extension
when it was built from the same C++ sources, and otherwise says what to run.
Everything here runs in a subprocess with cwd = the repository root, as a user would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core import _native
from core._extension import source_fingerprint

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "rewards", "trainer")
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def run(*args: str, cwd: Path = ROOT, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=ENV)


def entry_points() -> list[str]:
    """Every `python -m` target: packages with a __main__.py and modules with a main
    block (the sandbox's harness programs are run by the sandbox, not by users)."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "harness" in path.parts:
                continue
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            if path.name == "__main__.py":
                found.append(module.removesuffix(".__main__"))
            elif 'if __name__ == "__main__":' in path.read_text(encoding="utf-8"):
                found.append(module)
    return found


def test_the_checkout_runs_with_the_installed_engine() -> None:
    probe = ("import json, core, rewards, trainer\nfrom core import _native\n"
             "print(json.dumps([core.__file__, rewards.__file__, trainer.__file__, "
             "_native.source_fingerprint]))")
    out = run("-c", probe)
    assert out.returncode == 0, out.stderr
    *files, fingerprint = json.loads(out.stdout)
    assert all(Path(f).is_relative_to(ROOT) for f in files), files
    assert fingerprint == source_fingerprint(ROOT / "csrc") == _native.source_fingerprint


def test_entry_points_are_found() -> None:
    assert {"rewards", "trainer.ppo"} <= set(entry_points())


@pytest.mark.parametrize("module", entry_points())
def test_every_entry_point_runs_from_the_root(module: str) -> None:
    out = run("-m", module, "--help")
    assert out.returncode == 0, out.stderr
    assert "usage:" in out.stdout


def test_rewards_score_and_codebleu_from_the_root(tmp_path: Path) -> None:
    ref = "def inc(a):\n    b = a + 1\n    return b\n"
    samples = tmp_path / "samples.jsonl"
    samples.write_text(json.dumps({"language": "python", "code": ref, "reference": ref}) + "\n")
    out = run("-m", "rewards", "score", str(samples))
    assert out.returncode == 0, out.stderr
    row = json.loads(out.stdout)
    assert (row["execution"], row["ast"], row["dfg"], row["total"]) == (1.0, 1.0, 1.0, 3.0)
    (tmp_path / "refs.txt").write_text("x = a + b\n")
    (tmp_path / "hyps.txt").write_text("x = a + b\n")
    out = run("-m", "rewards", "codebleu", "--lang", "python", "--refs", str(tmp_path / "refs.txt"),
              "--hyps", str(tmp_path / "hyps.txt"))
    assert out.returncode == 0, out.stderr
    assert '"codebleu": 1.0' in out.stdout


def test_readme_training_command_from_the_root(tmp_path: Path) -> None:
    """`python -m trainer.ppo`: the embedded default (SmolLM2-135M, LoRA, the stdlib
    task, the PPOCoder reward in worker processes), cut to one small step."""
    out = run("-m", "trainer.ppo", "--run.output-dir", str(tmp_path / "run"), "--ppo.steps", "1",
              "--ppo.prompts-per-step", "2", "--ppo.minibatch-size", "2", "--ppo.epochs", "1",
              "--generation.max-new-tokens", "3", "--generation.max-prompt-tokens", "48",
              "--data.max-examples", "20", "--run.no-progress", "--run.no-tensorboard",
              "--run.eval-examples", "0", "--run.threads", "1", timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["step"] == 1
    assert (tmp_path / "run" / "final" / "adapter_model.safetensors").is_file()


# ---- a checkout whose engine is missing or stale: the error says what to run ----

def load_engine(checkout: Path, *extra_path: Path) -> subprocess.CompletedProcess:
    """`from core import _native` in a bare interpreter (-S: no site-packages, no editable
    finders) whose sys.path is the checkout, then `extra_path`."""
    path = [str(checkout), *map(str, extra_path)]
    code = f"import sys\nsys.path[:] = {path!r} + sys.path[1:]\nfrom core import _native\nprint(_native.__file__)"
    return run("-S", "-c", code, cwd=checkout)


def copy_checkout(dest: Path) -> Path:
    for part in ("core", "csrc"):
        shutil.copytree(ROOT / part, dest / part, ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    shutil.copy(ROOT / "CMakeLists.txt", dest / "CMakeLists.txt")
    return dest


def test_checkout_without_an_installed_engine() -> None:
    out = load_engine(ROOT)
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: the compiled engine core._native is not built")
    assert "`pip install .`" in last and str(ROOT) in last


def test_checkout_borrows_only_an_engine_built_from_its_sources(tmp_path: Path) -> None:
    installed = Path(_native.__file__).parent.parent  # the folder holding core/_native*.so
    checkout = copy_checkout(tmp_path)
    out = load_engine(checkout, installed)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()) == Path(_native.__file__)
    with (checkout / "csrc" / "engine.cpp").open("a") as f:
        f.write("// changed after the install\n")
    out = load_engine(checkout, installed)
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert "was built from other C++ sources than" in last and "pip install ." in last


def bench_scripts() -> list[str]:
    """The benchmarks that import the project's packages."""
    return [p.name for p in sorted((ROOT / "bench").glob("*.py"))
            if any(f"from {pkg}" in p.read_text() or f"import {pkg}" in p.read_text()
                   for pkg in PACKAGES)]


@pytest.mark.parametrize("script", bench_scripts())
def test_a_benchmark_times_this_checkout_not_an_installed_copy(script: str, tmp_path: Path):
    """`python bench/X.py` puts bench/ first on sys.path, so without care it would import an
    installed (maybe older) copy of core/rewards/trainer and time that. Here a decoy copy
    that fails on import comes first on PYTHONPATH: each benchmark must not see it."""
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("raise ImportError('the decoy copy')\n")
    done = subprocess.run([sys.executable, f"bench/{script}", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**ENV, "PYTHONPATH": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-600:]
    assert "decoy" not in done.stderr
