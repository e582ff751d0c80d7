"""--preset: the paper's settings shipped as YAML, each value with its source; flags win."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from trainer.config import ConfigError, parse_cli, preset_path, presets


def test_the_three_paper_presets_ship_with_the_package():
    assert presets() == ["paper-completion", "paper-synthesis", "paper-translation"]
    for name in presets():
        assert preset_path(name).parent.name == "presets"


@pytest.mark.parametrize("name,source,model", [
    ("paper-completion", "codesearchnet", "Salesforce/codet5-base"),
    ("paper-translation", "xlcost", "Salesforce/codet5-base"),
    ("paper-synthesis", "apps", "Salesforce/codet5-large-ntp-py"),
])
def test_presets_carry_the_paper_settings(name: str, source: str, model: str):
    cfg = parse_cli(["--preset", name])
    assert (cfg.data.source, cfg.model.name_or_path, cfg.model.lora) == (source, model, False)
    assert (cfg.ppo.lr, cfg.ppo.kl_coef, cfg.ppo.kl_target, cfg.ppo.vf_coef) == (1e-6, 0.1, 1.0, 1e-3)
    assert (cfg.generation.top_k, cfg.generation.samples_per_prompt) == (5, 10)
    assert (cfg.generation.max_prompt_tokens, cfg.generation.max_new_tokens) == (400, 400)
    assert (cfg.ppo.gamma, cfg.ppo.lam, cfg.ppo.prompts_per_step) == (1.0, 0.95, 32)


@pytest.mark.parametrize("name", ["paper-completion", "paper-translation", "paper-synthesis"])
def test_every_value_says_where_it_comes_from(name: str):
    for line in preset_path(name).read_text().splitlines():
        if re.match(r"\s*\w+:\s*\S", line) and not line.strip().startswith("#"):
            assert re.search(r"#\s*\[(paper|README|ppo\.py|rl_run\.py|ours)\]", line), line


def test_config_file_and_flags_override_the_preset(tmp_path: Path):
    own = tmp_path / "own.yaml"
    own.write_text("ppo:\n  lr: 0.001\ndata:\n  language: java\n")
    cfg = parse_cli(["--preset=paper-translation", "--config", str(own), "--ppo.kl-coef", "0.3"])
    assert (cfg.ppo.lr, cfg.ppo.kl_coef, cfg.data.language) == (0.001, 0.3, "java")
    assert cfg.data.source_language == "java" and cfg.ppo.vf_coef == 1e-3  # kept from the preset


def test_preset_errors_are_one_line():
    with pytest.raises(ConfigError, match="unknown preset 'paper-nope'; presets: paper-completion"):
        parse_cli(["--preset", "paper-nope"])
    with pytest.raises(ConfigError, match="--preset needs a preset name"):
        parse_cli(["--preset"])
