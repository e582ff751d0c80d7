"""PPOCoder core: the language registry, the native structural engine and the
token-level reward-shaping kernels shared by `rewards` and `trainer`.

Importing `core` is cheap: the compiled extension `core._native` is loaded on first
use (``from core import _native``, by `core.structural`). From a source checkout
without a built extension (the clone root after `pip install .`), the installed
extension built from the same sources is used (`core._extension`).
"""

from types import ModuleType

from core import languages

__all__ = ["languages"]


def __getattr__(name: str) -> ModuleType:
    # Runs only while `_native` is not yet an attribute, i.e. on its first import.
    if name == "_native":
        from core._extension import load_native

        return load_native()
    raise AttributeError(f"module 'core' has no attribute {name!r}")
