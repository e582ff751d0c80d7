"""Every setting of a PPO run, in one tree: dataclasses, validation, YAML and the CLI.

`Config` is read three ways that always agree: as flags (``python -m trainer.ppo
--ppo.lr 1e-4``, parsed by tyro from the dataclasses below, one documented flag per
field), from a YAML file with the same nested names (``--config run.yaml``; flags given
with it override the file) and from Python (``Config(ppo=PPOSettings(lr=1e-4))``).
Presets are YAML files of the same shape.

A config error (a missing or unreadable file, bad YAML, an unknown key, a value of the
wrong type) raises `ConfigError`: one line naming the file, the key and what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from rewards import RewardConfig
from trainer.chat import (
    CHAT_TASKS,
    SYNTHESIS_TEMPLATE,
    TRANSLATION_TEMPLATE,
    ChatFormat,
    choose_format,
)
from trainer.models import DEFAULT_MODEL
from trainer.stop_rules import StopRules

TASKS = ("completion", "translation", "synthesis")
BENCHMARKS = ("humaneval", "mbpp", "apps", "codesearchnet", "xlcost")
"""Built-in data sources in their published formats (`trainer.data.benchmarks`)."""
SOURCES = ("stdlib", "jsonl", "hf", *BENCHMARKS)
BENCHMARK_TASKS = {"humaneval": "synthesis", "mbpp": "synthesis", "apps": "synthesis",
                   "codesearchnet": "completion", "xlcost": "translation"}
"""The task each benchmark fixes (``data.task`` is not consulted for them)."""


class ConfigError(ValueError):
    """A configuration that cannot be used; the message is one line for the user."""


@dataclass
class ModelConfig:
    name_or_path: str = DEFAULT_MODEL
    """HF hub name or local folder (causal or encoder-decoder); "smollm2-135m" = embedded default."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """Weight dtype; auto = float32 on CPU, bfloat16 (or float16) on GPU."""
    lora: bool = True
    """Train LoRA adapters (the reference model is the base with adapters off) instead of all weights."""
    lora_r: int = 8
    """LoRA rank."""
    lora_alpha: int = 16
    """LoRA scaling numerator (scale = alpha / r)."""
    lora_dropout: float = 0.0
    """Dropout inside LoRA layers (0 keeps PPO ratios exact)."""
    lora_target_modules: str = "all-linear"
    """Modules that get adapters: "all-linear" or a comma-separated list of names."""
    separate_critic: bool = False
    """Give the value head its own backbone copy instead of sharing the policy's."""
    trust_remote_code: bool = False
    """Allow model code from the hub (only for models you trust)."""


@dataclass
class GenerationSettings:
    max_prompt_tokens: int = 256
    """Longer prompts are cut: only their code/problem part, on `truncation_side`."""
    truncation_side: Literal["auto", "left", "right"] = "auto"
    """Where an over-long prompt loses tokens: left (keeps the code right before the response), right (keeps the head of a source program or statement; the template's instruction is never cut), auto (left for completion, right otherwise)."""
    max_new_tokens: int = 32
    """Response length limit; a response that reaches it without ending is 'truncated'."""
    stop: tuple[str, ...] = ()
    """Stop strings: a response ends where the first of them appears (it is not part of the program)."""
    function_end: bool = True
    """End a completion where the unit of code its prefix opened is closed (dedent / closing brace)."""
    temperature: float = 1.0
    """Sampling temperature (0 = greedy)."""
    top_k: int = 0
    """Sample among the k most likely tokens (0 = off); the PPO ratio uses the same cut."""
    top_p: float = 1.0
    """Nucleus sampling threshold (1 = off); the PPO ratio uses the same cut."""
    samples_per_prompt: int = 1
    """Responses drawn per prompt (the group of ppo.advantage grpo/rloo: at least 2 there)."""
    chunk_size: int = 0
    """Prompts per generate() call; scoring of a chunk overlaps the next (0 = one call)."""
    prompt_format: Literal["auto", "raw", "chat"] = "auto"
    """raw: the prompt as it stands; chat: a user message through the tokenizer's chat template, the answer read out of the reply (reasoning removed, last fenced block); auto: chat when the tokenizer has a chat template and the task is synthesis or translation."""
    system_prompt: str | None = None
    """Chat: system message before the user message (None: none; the template's own default applies)."""
    chat_synthesis: str = SYNTHESIS_TEMPLATE
    """Chat: user message of synthesis; {prompt} (the problem; a code prompt in a fenced block), {language}, {fence}."""
    chat_translation: str = TRANSLATION_TEMPLATE
    """Chat: user message of translation; {source}, {source_language}, {source_fence}, {language}, {fence}."""
    fence_end: bool = True
    """Chat: end a reply when the fenced code block taken as its answer closes (the templates ask for one block)."""
    max_thinking_tokens: int = 0
    """Reasoning models: end a reply still inside its <think> block after this many tokens (0 = off; reasoning and answer share max_new_tokens). A reply cut while reasoning is empty."""

    def stop_rules(self) -> StopRules:
        """The stop rules these settings describe (shared by training and evaluation)."""
        return StopRules(stop=tuple(self.stop), function_end=self.function_end)

    def chat_format(self, tokenizer: Any, task: str, model: str = "the model"
                    ) -> ChatFormat | None:
        """The chat format of a run with this tokenizer on `task`, or None for raw prompts
        (`trainer.chat`; `ConfigError` when chat cannot be used)."""
        try:
            chosen = choose_format(self.prompt_format, tokenizer, task, model)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if chosen == "raw":
            return None
        return ChatFormat(system_prompt=self.system_prompt,
                          synthesis_template=self.chat_synthesis,
                          translation_template=self.chat_translation,
                          fence_end=self.fence_end, max_thinking_tokens=self.max_thinking_tokens)


@dataclass
class RewardSettings(RewardConfig):
    """The PPOCoder reward's switches and weights (`rewards.RewardConfig`), plus where it runs."""

    function: str | None = None
    """Custom reward "module:function" taking list[rewards.Sample] -> list[float]; default: PPOCoder's."""
    workers: int = 1
    """Reward worker processes (0 = one background thread in the trainer process); Ray actors with backend "ray"."""
    backend: Literal["process", "ray"] = "process"
    """Where rewards are scored: worker processes on this machine, or a Ray cluster (pip install 'ppocoder[ray]')."""
    ray_address: str | None = None
    """Ray cluster to join ("auto", "ray://host:10001"); default: start a local Ray instance."""
    line_credit: float = 0.0
    """Penalty on every token of a program line that execution feedback names (compile error, failing line), on top of the score (0 = off)."""


@dataclass
class PPOSettings:
    steps: int = 40
    """Number of PPO steps (rollout + update). The default run (40 steps of 4 prompts, 100
    held-out examples evaluated before and after) takes about 25 minutes on a 2-core CPU."""
    prompts_per_step: int = 4
    """Prompts per step over all ranks (must divide by the number of ranks)."""
    epochs: int = 2
    """Passes over each rollout batch."""
    advantage: Literal["gae", "grpo", "rloo"] = "gae"
    """Advantage estimator: gae (value head + GAE), grpo (score standardised over the prompt's samples, KL as a loss term), rloo (score minus the mean of the prompt's other samples, KL in the score); grpo/rloo load no value head."""
    minibatch_size: int = 4
    """Responses per optimiser step, per rank; grpo/rloo: a multiple of generation.samples_per_prompt (a minibatch holds whole groups)."""
    grad_accum: int = 1
    """Micro-batches a minibatch is split into (saves memory, same result)."""
    lr: float = 3e-4
    """AdamW learning rate."""
    lr_schedule: Literal["constant", "linear", "cosine"] = "constant"
    """Learning-rate decay over the run, after warm-up."""
    warmup_steps: int = 0
    """PPO steps of linear LR warm-up."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    clip_range: float = 0.2
    """PPO ratio clip epsilon."""
    clip_range_value: float = 0.2
    """Value clip around the old values (gae)."""
    vf_coef: float = 0.1
    """Value-loss coefficient (gae)."""
    ent_coef: float = 0.0
    """Entropy bonus coefficient."""
    max_grad_norm: float = 1.0
    """Gradient norm clip."""
    gamma: float = 1.0
    """Discount (gae)."""
    lam: float = 0.95
    """GAE lambda (gae)."""
    whiten_advantages: bool = True
    """Normalise gae advantages over the whole batch (all ranks); grpo/rloo advantages are never re-whitened (it would mix the groups)."""
    kl_coef: float = 0.05
    """Initial KL coefficient: of the penalty in the reward (gae, rloo), of the loss term (grpo, GRPO's beta)."""
    kl_target: float | None = None
    """Target KL per response; set it for the adaptive controller (else fixed)."""
    kl_horizon: float = 10000.0
    """Adaptive controller horizon, in samples."""
    kl_estimator: Literal["auto", "k1", "k2", "k3"] = "auto"
    """Per-token KL estimator (core.shaping.token_kl); auto = k1 in the reward (gae, rloo), k3 in the loss (grpo)."""

    @property
    def critic_free(self) -> bool:
        """Whether the advantage estimator needs no value head (grpo, rloo)."""
        return self.advantage != "gae"

    def kl_estimator_used(self) -> str:
        """The KL estimator the run uses: `kl_estimator`, with auto resolved by `advantage`."""
        if self.kl_estimator != "auto":
            return self.kl_estimator
        return "k3" if self.advantage == "grpo" else "k1"


@dataclass
class RunSettings:
    output_dir: str = "runs/ppo"
    """Where logs, checkpoints and the plot go."""
    seed: int = 0
    """Seed of everything (model init, data order, sampling)."""
    device: str = "auto"
    """"auto" (GPU when present), "cpu", "cuda", "cuda:1"..."""
    save_every: int = 10
    """Checkpoint every N steps (and at the end)."""
    keep_last: int = 2
    """Checkpoints kept (0 = all)."""
    resume: bool = True
    """Continue from the newest checkpoint in output_dir when there is one."""
    tensorboard: bool = True
    """Write TensorBoard scalars."""
    progress: bool = True
    """Show the tqdm bar."""
    plot: bool = True
    """Write plot.png at the end."""
    threads: int = 0
    """torch CPU threads; 0 = auto: idle cores (cores - 1-min load average) split over local
    ranks, at least 1 (oversubscribed threads make CPU runs many times slower). Fix it for a
    bit-exact resume: some CPU kernels' rounding depends on the thread count."""
    eval_every: int = 0
    """Evaluate on the held-out split every N steps (0 = only before training and at the end)."""
    eval_examples: int = 100
    """Held-out examples per evaluation (0 = no evaluation)."""
    eval_temperature: float = 0.0
    """Sampling temperature of evaluation (0 = greedy); stop rules and lengths are training's."""
    eval_batch_size: int = 16
    """Held-out prompts generated together during evaluation."""
    log_samples: int = 2
    """Generated samples per step written to samples.jsonl (rank 0's first ones)."""


@dataclass
class DataConfig:
    """Which task the policy is trained on and where its examples come from."""

    task: str = "completion"
    """Task: completion | translation | synthesis (the benchmark sources fix their own)."""
    source: str = "stdlib"
    """Where examples come from: stdlib (embedded default, completion only) | jsonl | hf | humaneval | mbpp | apps | codesearchnet | xlcost."""
    path: str | None = None
    """JSONL file (jsonl); dataset name, save_to_disk folder or data file (hf); benchmark files or hub name (benchmarks)."""
    eval_path: str | None = None
    """JSONL file of eval examples (source=jsonl); None carves eval_fraction out of path."""
    hf_config: str | None = None
    """Configuration (subset) name of a Hugging Face dataset, if it has several."""
    train_split: str = "train"
    """Split of the Hugging Face dataset used for training."""
    eval_split: str | None = None
    """Split used for evaluation (source=hf); None carves eval_fraction out of train_split."""
    language: str = "python"
    """Target language when records have no language field (any `core.languages` id or alias)."""
    source_language: str | None = None
    """Translation: source language when records have no source-language field."""
    id_field: str = "id"
    """Record field with a stable example id (optional; the line/row number otherwise)."""
    code_field: str = "code"
    """Completion: record field with the whole function (the prompt is cut from it)."""
    prompt_field: str = "prompt"
    """Synthesis: record field with the problem statement (or program start, see prompt_is_code)."""
    reference_field: str = "reference"
    """Record field with the reference program (translation: the target-language code)."""
    tests_field: str = "tests"
    """Synthesis: record field with the unit tests (shapes: see the module docstring)."""
    entry_point_field: str = "entry_point"
    """Synthesis: record field naming the function that HumanEval-style test code checks."""
    language_field: str = "language"
    """Record field with the target language id."""
    source_field: str = "source"
    """Translation: record field with the source program."""
    source_language_field: str = "source_language"
    """Translation: record field with the source language id."""
    prompt_is_code: bool = False
    """Synthesis: the prompt is the start of the program (HumanEval style); it is scored with the response."""
    prompt_template: str = (
        "// Translate this {source_language} program to {language}.\n"
        "// {source_language}:\n{source}\n// {language}:\n"
    )
    """Translation prompt; placeholders {source}, {source_language}, {language}."""
    completion_unit: str = "tokens"
    """Completion: hold out the last N `tokens` (tree-sitter leaves) or `lines`."""
    completion_holdout: int = 10
    """Completion: how many tokens/lines at the end of each function the model must write."""
    min_lines: int = 4
    """Stdlib: smallest function kept, in lines."""
    max_lines: int = 30
    """Stdlib: largest function kept, in lines."""
    max_per_file: int = 5
    """Stdlib: at most this many functions from one file (keeps the data diverse)."""
    min_tokens: int = 0
    """CodeSearchNet: skip functions with fewer tokens (the paper keeps methods of at least 64)."""
    xlcost_level: Literal["program", "snippet"] = "program"
    """XLCoST: translate whole programs (pair_data_tok_full) or snippets (pair_data_tok_1)."""
    xlcost_tokenized_prompt: bool = False
    """XLCoST: show the source as XLCoST publishes it (one line with NEW_LINE/INDENT markers, as the authors feed CodeT5) instead of detokenised; responses with those markers are detokenised either way."""
    difficulty: str | None = None
    """APPS: keep only problems of this difficulty (introductory, interview, competition)."""
    max_examples: int | None = 1000
    """Cap on examples read (before the split); None reads everything."""
    eval_fraction: float = 0.1
    """Share of examples held out for evaluation when no eval data is given."""
    seed: int = 0
    """Seed of the stdlib file order and of the train/eval split."""



@dataclass
class Config:
    """Everything a PPO run needs; every field can be set from YAML or as a flag."""

    model: ModelConfig = field(default_factory=ModelConfig)
    """The policy model and how it is trained (LoRA or all weights)."""
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    """How responses are sampled and where they end."""
    data: DataConfig = field(default_factory=DataConfig)
    """The task and where its examples come from."""
    reward: RewardSettings = field(default_factory=RewardSettings)
    """The reward: PPOCoder components and weights, or your own function."""
    ppo: PPOSettings = field(default_factory=PPOSettings)
    """The PPO optimisation."""
    run: RunSettings = field(default_factory=RunSettings)
    """Output, checkpoints, evaluation and logging."""


def validate(cfg: Config) -> None:
    """Raise ValueError naming the first field with an impossible value."""
    positive = {
        "ppo.steps": cfg.ppo.steps, "ppo.prompts_per_step": cfg.ppo.prompts_per_step,
        "ppo.epochs": cfg.ppo.epochs, "ppo.minibatch_size": cfg.ppo.minibatch_size,
        "ppo.grad_accum": cfg.ppo.grad_accum, "generation.max_new_tokens":
        cfg.generation.max_new_tokens, "generation.max_prompt_tokens":
        cfg.generation.max_prompt_tokens, "generation.samples_per_prompt":
        cfg.generation.samples_per_prompt, "run.save_every": cfg.run.save_every,
        "model.lora_r": cfg.model.lora_r, "run.eval_batch_size": cfg.run.eval_batch_size,
    }
    for name, value in positive.items():
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
    ranges = {
        "ppo.lr": (cfg.ppo.lr, 0.0, math.inf), "ppo.clip_range": (cfg.ppo.clip_range, 0.0, math.inf),
        "ppo.clip_range_value": (cfg.ppo.clip_range_value, 0.0, math.inf),
        "ppo.gamma": (cfg.ppo.gamma, 0.0, 1.0), "ppo.lam": (cfg.ppo.lam, 0.0, 1.0),
        "ppo.kl_coef": (cfg.ppo.kl_coef, 0.0, math.inf),
        "ppo.max_grad_norm": (cfg.ppo.max_grad_norm, 0.0, math.inf),
        "generation.temperature": (cfg.generation.temperature, 0.0, math.inf),
        "generation.top_p": (cfg.generation.top_p, 0.0, 1.0),
        "run.eval_temperature": (cfg.run.eval_temperature, 0.0, math.inf),
    }
    for name, (value, lo, hi) in ranges.items():
        if not (isinstance(value, (int, float)) and math.isfinite(value) and lo <= value <= hi):
            raise ConfigError(f"{name} must be a finite number in [{lo}, {hi}], got {value!r}")
    if any(not isinstance(s, str) or not s for s in cfg.generation.stop):
        raise ConfigError(f"generation.stop must be non-empty strings, got {cfg.generation.stop!r}")
    if cfg.run.eval_examples < 0:
        raise ConfigError(f"run.eval_examples must be >= 0, got {cfg.run.eval_examples}")
    _validate_prompt_format(cfg.generation, cfg.data)
    if cfg.generation.top_k < 0:
        raise ConfigError(f"generation.top_k must be >= 0, got {cfg.generation.top_k}")
    rs = cfg.reward
    if not (isinstance(rs.line_credit, (int, float)) and math.isfinite(rs.line_credit)
            and rs.line_credit >= 0):
        raise ConfigError(f"reward.line_credit must be a finite number >= 0, got {rs.line_credit!r}")
    _validate_estimator(cfg.ppo, cfg.generation, cfg.model)


def task_of(data: DataConfig) -> str:
    """The task a data config gives: the benchmark's own, else ``data.task``."""
    return BENCHMARK_TASKS.get(data.source, "completion" if data.source == "stdlib" else data.task)


def _validate_prompt_format(gc: GenerationSettings, data: DataConfig) -> None:
    if gc.prompt_format not in ("auto", "raw", "chat"):
        raise ConfigError(f"generation.prompt_format must be one of 'auto', 'raw', 'chat', got "
                          f"{gc.prompt_format!r}")
    if gc.prompt_format == "chat" and task_of(data) not in CHAT_TASKS:
        raise ConfigError(f"generation.prompt_format=chat is for synthesis and translation; "
                          f"{task_of(data)} continues the code of its prompt (use raw)")
    if not isinstance(gc.max_thinking_tokens, int) or gc.max_thinking_tokens < 0:
        raise ConfigError(f"generation.max_thinking_tokens must be an integer >= 0, got "
                          f"{gc.max_thinking_tokens!r}")
    placeholders = {"chat_synthesis": ("prompt", "language", "fence"),
                    "chat_translation": ("source", "source_language", "source_fence",
                                         "language", "fence")}
    for name, keys in placeholders.items():
        try:
            getattr(gc, name).format(**{k: "" for k in keys})
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(f"generation.{name} is not a valid template ({exc!r}); "
                              f"placeholders: {', '.join('{' + k + '}' for k in keys)}") from None
        if "{" + keys[0] + "}" not in getattr(gc, name):
            raise ConfigError(f"generation.{name} must contain {{{keys[0]}}}")


def _validate_estimator(pc: PPOSettings, gc: GenerationSettings, mc: ModelConfig) -> None:
    if pc.advantage not in ("gae", "grpo", "rloo"):
        raise ConfigError(f"ppo.advantage must be one of 'gae', 'grpo', 'rloo', got {pc.advantage!r}")
    if pc.kl_estimator not in ("auto", "k1", "k2", "k3"):
        raise ConfigError(f"ppo.kl_estimator must be one of 'auto', 'k1', 'k2', 'k3', got "
                          f"{pc.kl_estimator!r}")
    if not pc.critic_free:
        return
    mode, k = pc.advantage, gc.samples_per_prompt
    if k < 2:
        raise ConfigError(f"ppo.advantage={mode} needs generation.samples_per_prompt >= 2 (the "
                          f"baseline is the prompt's other samples), got {k}")
    if pc.minibatch_size % k:
        raise ConfigError(f"ppo.minibatch_size={pc.minibatch_size} must be a multiple of "
                          f"generation.samples_per_prompt={k} with ppo.advantage={mode} (a "
                          "minibatch holds whole groups)")
    if mc.separate_critic:
        raise ConfigError(f"model.separate_critic needs a critic, and ppo.advantage={mode} has "
                          "none (use ppo.advantage=gae)")
    if mode == "grpo" and pc.kl_estimator_used() == "k1":
        raise ConfigError("ppo.kl_estimator=k1 as grpo's KL loss term has zero expected "
                          "gradient; use k3 (GRPO's) or k2")



def config_from_dict(cls: type, values: Any, file: str | None = None, prefix: str = "") -> Any:
    """Build dataclass `cls` from a nested dict. Unknown keys and values of the wrong type
    raise `ConfigError` naming the dotted key (``ppo.lr``), after `file` when given."""
    def fail(message: str) -> ConfigError:
        return ConfigError(f"{file}: {message}" if file else message)

    if not isinstance(values, dict):
        raise fail(f"{prefix.rstrip('.') or 'config'} must be a mapping of keys to values, got "
                   f"{type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise fail(f"unknown key {prefix + str(unknown[0])!r}; allowed: {', '.join(sorted(fields))}")
    defaults = cls()
    kwargs = {}
    for name, value in values.items():
        default = getattr(defaults, name)
        if dataclasses.is_dataclass(default):
            value = config_from_dict(type(default), value, file, f"{prefix}{name}.")
        elif not _matches(value, hints[name]):
            raise fail(f"{prefix}{name} must be {_describe(hints[name])}, got {value!r}")
        elif hints[name] is float and isinstance(value, int):
            value = float(value)
        elif typing.get_origin(hints[name]) is tuple:
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def _matches(value: Any, hint: Any) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return value in args
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if origin in (tuple, list):
        return isinstance(value, (list, tuple)) and all(_matches(v, args[0]) for v in value)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin in (tuple, list):
        return f"a list of {_describe(args[0])}s"
    if hint is type(None):
        return "null"
    return {bool: "true or false", int: "an integer", float: "a number",
            str: "a string"}.get(hint, getattr(hint, "__name__", str(hint)))


PRESET_DIR = Path(__file__).with_name("presets")
"""YAML presets shipped with the package (``--preset NAME`` reads ``NAME.yaml``)."""


def presets() -> list[str]:
    """Names of the shipped presets (``paper-completion``, ``paper-translation``, ...)."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def preset_path(name: str) -> Path:
    """The YAML file of preset `name`; `ConfigError` listing the presets when there is none."""
    path = PRESET_DIR / f"{name}.yaml"
    if "/" in name or not path.is_file():
        raise ConfigError(f"unknown preset {name!r}; presets: {', '.join(presets())}")
    return path


def load_config(path: str | Path) -> Config:
    """Read a YAML file with the field names of `Config` (any subset); `ConfigError` on a
    missing file, bad YAML, an unknown key or a wrongly typed value."""
    return config_from_dict(Config, read_yaml(path), str(path))


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The mapping in a YAML config file (not yet checked against `Config`); `ConfigError`
    on a missing or unreadable file or bad YAML."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {str(path)!r}: {exc}") from None
    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}:{where} is not valid YAML ({problem})") from None
    return {} if values is None else values


def _merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        both = isinstance(out.get(key), dict) and isinstance(value, dict)
        out[key] = _merged(out[key], value) if both else value
    return out


def config_to_dict(cfg: Any) -> dict[str, Any]:
    def plain(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return v if isinstance(v, (str, int, float, bool, type(None))) else str(v)

    return plain(dataclasses.asdict(cfg))


def parse_cli(argv: list[str] | None = None, prog: str = "python -m trainer.ppo",
              description: str | None = None) -> Config:
    """Parse ``--preset NAME`` and ``--config file.yaml`` (both optional; the file overrides
    the preset, flags override both) and flags into a `Config`."""
    import tyro

    args = list(sys.argv[1:] if argv is None else argv)
    base = take_base_config(args) or Config()
    help_text = (description or "") + (
        "\n\n--config FILE.yaml: read settings from a YAML file with the nested names "
        "below (e.g. `ppo: {lr: 1e-4}`); flags given with it override the file. "
        f"--preset NAME: start from a shipped preset ({', '.join(presets())}; the paper's "
        "settings, documented in trainer/presets/NAME.yaml); --config and flags override it.")
    return tyro.cli(Config, default=base, args=args, prog=prog, description=help_text.strip())


def take_base_config(args: list[str]) -> Config | None:
    """Remove ``--preset NAME`` and ``--config FILE`` from `args` and return the `Config`
    they give (the file overrides the preset); None when neither is there. Shared by
    ``trainer.ppo`` and ``trainer.evaluate``, so both read a run's settings alike."""
    preset = _take_option(args, "--preset", "a preset name")
    config_file = _take_option(args, "--config", "a YAML file path")
    if preset is None and config_file is None:
        return None
    values: dict[str, Any] = {}
    if preset is not None:
        path = preset_path(preset)
        values = read_yaml(path)
        config_from_dict(Config, values, f"preset {preset}")  # one-line errors name the preset
    if config_file is not None:
        own = read_yaml(config_file)
        config_from_dict(Config, own, config_file)
        values = _merged(values, own)
    return config_from_dict(Config, values)


def take_option(args: list[str], flag: str, what: str) -> str | None:
    """Remove ``flag VALUE`` / ``flag=VALUE`` from `args` and return VALUE (None if absent);
    `ConfigError` when the value is missing."""
    return _take_option(args, flag, what)


def _take_option(args: list[str], flag: str, what: str) -> str | None:
    """Remove ``flag VALUE`` / ``flag=VALUE`` from `args` and return VALUE (None if absent)."""
    for i, a in enumerate(args):
        if a == flag or a.startswith(flag + "="):
            value = a.split("=", 1)[1] if "=" in a else (args[i + 1] if i + 1 < len(args) else "")
            if not value or value.startswith("--"):
                raise ConfigError(f"{flag} needs {what}")
            del args[i: i + (1 if "=" in a else 2)]
            return value
    return None
