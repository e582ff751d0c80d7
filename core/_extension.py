"""Finding the compiled engine `core._native`, also from a source checkout.

`pip install .` puts `core/_native*.so` into site-packages. Run from the clone root
(`python -m trainer.ppo`), Python finds the checkout's own `core/` first, which has no
extension. So when the extension is not beside this package, and this package is a
checkout (a `csrc/` folder next to it), the extension of the installed `ppocoder` is
used, provided it was built from exactly this checkout's C++ sources: the build stamps
a fingerprint of `csrc/` into the extension (`cmake/NativeFingerprint.cmake`) and
`source_fingerprint` recomputes it here. Any other case ends in an `ImportError` that
says which command fixes it. An editable install whose extension is older than
`csrc/` is caught the same way.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

_NAME = "core._native"


def source_fingerprint(csrc: Path) -> str:
    """SHA-256 over the names and SHA-256 digests of the `.cpp`/`.hpp` files of `csrc`,
    in name order, one ``"<name> <hex digest>\\n"`` line each: the value the build
    stamps into the extension as ``_native.source_fingerprint``."""
    files = sorted((p for p in csrc.iterdir() if p.suffix in (".cpp", ".hpp") and p.is_file()),
                   key=lambda p: p.name)
    listing = "".join(f"{p.name} {hashlib.sha256(p.read_bytes()).hexdigest()}\n" for p in files)
    return hashlib.sha256(listing.encode()).hexdigest()


def _checkout_sources(package_dir: Path) -> Path | None:
    """The `csrc/` folder when `package_dir` is the `core/` of a source checkout, else None."""
    csrc = package_dir.parent / "csrc"
    return csrc if (csrc / "bindings.cpp").is_file() and (package_dir.parent / "CMakeLists.txt").is_file() else None


def _installed_extension(package_dir: Path) -> Path | None:
    """The first compiled `core/_native` of this interpreter on sys.path outside `package_dir`."""
    for entry in sys.path:
        folder = Path(entry or ".").resolve() / "core"
        if folder == package_dir:
            continue
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            if (folder / f"_native{suffix}").is_file():
                return folder / f"_native{suffix}"
    return None


def _check_built_from(module: ModuleType, csrc: Path, fix: str) -> None:
    """ImportError saying `fix` unless `module` (an extension) was built from `csrc`."""
    if getattr(module, "source_fingerprint", None) != source_fingerprint(csrc):
        raise ImportError(f"the compiled engine {module.__file__} was built from other C++ "
                          f"sources than {csrc}; {fix}", name=_NAME)


def load_native() -> ModuleType:
    """`core._native`: beside the package when it is there, else (in a source checkout)
    the installed one built from the same sources. `ImportError` with the fix otherwise."""
    package_dir = Path(__file__).resolve().parent
    csrc = _checkout_sources(package_dir)
    try:
        module = importlib.import_module(_NAME)
    except ModuleNotFoundError as exc:
        if exc.name != _NAME:
            raise
    else:
        if csrc is not None:  # an editable install (or an in-place build) of this checkout
            _check_built_from(module, csrc, "csrc/ changed since the last build: rebuild with "
                              f"`pip install --no-build-isolation -e .` in {csrc.parent}")
        return module
    if csrc is None:
        raise ImportError(f"the compiled engine {_NAME} is missing from {package_dir}: reinstall "
                          "ppocoder (`pip install --force-reinstall ppocoder`), or, if this is a "
                          "copy of the sources without csrc/, run from another folder", name=_NAME)
    root = csrc.parent
    found = _installed_extension(package_dir)
    if found is None:
        raise ImportError(
            f"the compiled engine {_NAME} is not built: {root} is a source checkout and no "
            f"installed ppocoder is on sys.path; run `pip install .` in {root} (for "
            "development: `pip install --no-build-isolation -e .`)", name=_NAME)
    spec = importlib.util.spec_from_file_location(_NAME, found)
    assert spec is not None and spec.loader is not None  # a file with an extension suffix
    module = importlib.util.module_from_spec(spec)
    sys.modules[_NAME] = module
    try:
        spec.loader.exec_module(module)
        _check_built_from(module, csrc, f"the checkout changed since `pip install .`: run it again in {root}")
    except BaseException:
        del sys.modules[_NAME]
        raise
    sys.modules["core"]._native = module
    return module
