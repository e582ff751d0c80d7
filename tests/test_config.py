"""The config tree: every field documented, one-line errors for bad config files."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tyro

from trainer import config
from trainer.config import Config, ConfigError, DataConfig, load_config, parse_cli


def test_every_field_has_a_one_line_docstring() -> None:
    source = Path(config.__file__).read_text()
    classes = [c for c in vars(config).values()
               if dataclasses.is_dataclass(c) and c.__module__ == config.__name__]
    assert {c.__name__ for c in classes} >= {"Config", "DataConfig", "PPOSettings", "RunSettings"}
    for cls in classes:
        body = re.split(rf"\nclass {cls.__name__}\b[:(]", source, maxsplit=1)[1]
        body = body.split("\n\n\n", 1)[0]
        chunks = re.split(r"\n    (\w+): ", body)[1:]  # name, declaration + docstring, ...
        documented = dict(zip(chunks[::2], chunks[1::2]))
        own = {f.name for f in dataclasses.fields(cls)} - {
            f.name for base in cls.__mro__[1:] if dataclasses.is_dataclass(base)
            for f in dataclasses.fields(base)}
        assert own <= set(documented), (cls.__name__, own - set(documented))
        for name in own:
            doc = [line for line in documented[name].split("\n") if line.startswith('    """')]
            assert doc and len(doc[0]) > 12, (cls.__name__, name)


def test_tyro_reads_the_data_config() -> None:
    cfg = tyro.cli(DataConfig, args=["--task", "synthesis", "--source", "jsonl", "--path",
                                     "x.jsonl", "--prompt-is-code", "--tests-field", "test"])
    assert (cfg.task, cfg.path, cfg.prompt_is_code, cfg.tests_field) == (
        "synthesis", "x.jsonl", True, "test")


def test_yaml_values_reach_the_config(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("ppo:\n  lr: 1\n  steps: 3\nreward:\n  execution_values:\n    failed: -0.5\n")
    cfg = load_config(path)
    assert cfg.ppo.lr == 1.0 and isinstance(cfg.ppo.lr, float) and cfg.ppo.steps == 3
    assert cfg.reward.execution_values.failed == -0.5


@pytest.mark.parametrize("text, pattern", [
    ("ppo:\n  stpes: 3\n", r"run\.yaml: unknown key 'ppo\.stpes'; allowed: .*steps"),
    ("ppo:\n  steps: three\n", r"run\.yaml: ppo\.steps must be an integer, got 'three'"),
    ("ppo:\n  whiten_advantages: 1\n", r"ppo\.whiten_advantages must be true or false"),
    ("model:\n  dtype: float64\n", r"model\.dtype must be one of 'auto', 'float32'"),
    ("reward:\n  execution_values:\n    nope: 1\n",
     r"unknown key 'reward\.execution_values\.nope'"),
    ("ppo: 3\n", r"run\.yaml: ppo must be a mapping"),
    ("ppo:\n  lr: [1\n", r"run\.yaml: line \d+ is not valid YAML"),
    ("- 1\n- 2\n", r"run\.yaml: config must be a mapping"),
])
def test_config_file_errors_are_one_line(tmp_path: Path, text: str, pattern: str) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert re.search(pattern, str(err.value)), str(err.value)
    assert "\n" not in str(err.value)


def test_missing_config_file() -> None:
    with pytest.raises(ConfigError, match="config file 'nope.yaml' does not exist"):
        parse_cli(["--config", "nope.yaml"])
    with pytest.raises(ConfigError, match="--config needs a YAML file path"):
        parse_cli(["--config"])


def test_flags_override_the_file(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("ppo:\n  steps: 3\n  lr: 0.5\n")
    cfg = parse_cli(["--config", str(path), "--ppo.steps", "4"])
    assert (cfg.ppo.steps, cfg.ppo.lr) == (4, 0.5)
    assert parse_cli([]) == Config()


def test_cli_prints_one_line_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("generation:\n  max_new_tokenz: 3\n")
    out = subprocess.run([sys.executable, "-m", "trainer.ppo", "--config", str(path)],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert "bad.yaml" in lines[0] and "generation.max_new_tokenz" in lines[0]
    helped = subprocess.run([sys.executable, "-m", "trainer.ppo", "--help"], capture_output=True,
                            text=True, cwd=tmp_path, timeout=120)
    assert helped.returncode == 0 and "--config" in helped.stdout


def test_training_errors_are_one_line_and_come_before_the_model(tmp_path: Path) -> None:
    """Data first, then the model source, each one line, before any model loads."""
    import os
    import time

    def ppo(*args: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        return subprocess.run([sys.executable, "-m", "trainer.ppo", "--run.output-dir",
                               str(tmp_path / "out"), *args], capture_output=True, text=True,
                              cwd=tmp_path, timeout=120, env=env)

    missing = str(tmp_path / "missing.jsonl")
    start = time.perf_counter()
    cases = [
        (["--data.source", "jsonl", "--data.path", missing, "--model.name-or-path", "./nope"],
         f"JSONL file {missing!r} does not exist"),  # the data is checked before the model
        (["--model.name-or-path", str(tmp_path / "nope")], "does not exist"),
        (["--model.name-or-path", "someone/not-cached-model"], "HF_HUB_OFFLINE is set"),
    ]
    for args, message in cases:
        out = ppo(*args)
        lines = out.stderr.strip().splitlines()
        assert out.returncode == 2 and len(lines) == 1 and message in lines[0], out.stderr
    assert time.perf_counter() - start < 60  # no model was loaded, no hub waited for
    assert not (tmp_path / "out").exists()


def test_the_task_is_named_as_the_data_fixes_it() -> None:
    from trainer.config import DataConfig, task_of

    assert task_of(DataConfig(source="xlcost")) == "translation"
    assert task_of(DataConfig(source="apps")) == task_of(DataConfig(source="humaneval")) == "synthesis"
    assert task_of(DataConfig(source="jsonl", task="translation")) == "translation"
    assert task_of(DataConfig()) == "completion"
