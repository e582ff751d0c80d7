"""PPOCoder core: the language registry, the native structural engine and the
token-level reward-shaping kernels shared by `rewards` and `trainer`.

Importing `core` is cheap: the compiled extension `core._native` is loaded only by the
modules that need it (`core.structural`).
"""

from core import languages

__all__ = ["languages"]
