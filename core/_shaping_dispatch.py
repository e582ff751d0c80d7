"""How a `core.shaping` call reaches its backend and comes back in the caller's type.

Backend choice (Numba for NumPy arrays and CPU tensors without grad, torch otherwise),
validation of shapes, and the dtype rules of the module docstring of `core.shaping`:
float32/float64 computed as they are, float16/bfloat16 in float32 and cast back,
integers and booleans as float64. Private to `core.shaping`.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

BACKENDS = ("auto", "numba", "torch")


def torch_module() -> Any:
    # torch is only looked up, never imported here: if it is not loaded yet, no
    # argument can be a tensor, and NumPy-only users skip its import cost.
    return sys.modules.get("torch")


def is_tensor(x: Any) -> bool:
    torch = torch_module()
    return torch is not None and isinstance(x, torch.Tensor)


def pick_backend(lead: Any, backend: str, *others: Any) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {BACKENDS}")
    if not is_tensor(lead):
        return "numba" if backend == "auto" else backend
    if backend == "numba" and lead.device.type != "cpu":
        raise ValueError(f"backend='numba' needs CPU tensors, got device {lead.device}")
    if backend != "auto":
        return backend
    torch = torch_module()
    numba_ok = (
        lead.device.type == "cpu"
        and not any(is_tensor(x) and x.requires_grad for x in (lead, *others))
        and lead.dtype in (torch.float32, torch.float64)
    )
    return "numba" if numba_ok else "torch"


def as_array(x: Any) -> Any:
    """Tensors pass through; anything else (lists, arrays) becomes a NumPy array."""
    return x if is_tensor(x) else np.asarray(x)


def check_2d(name: str, x: Any, shape: tuple[int, ...] | None) -> tuple[int, ...]:
    got = tuple(x.shape)
    if len(got) != 2:
        raise ValueError(f"{name} must have shape (B, T), got {got}")
    if shape is not None and got != shape:
        raise ValueError(f"{name} has shape {got}, expected {shape} like the other inputs")
    return got


def check_batch(**arrays: Any) -> tuple[int, ...]:
    """The (B, T) shape every named array must share; ValueError naming the first that differs."""
    shape = None
    for name, x in arrays.items():
        shape = check_2d(name, x, shape)
    assert shape is not None
    return shape


# -------------------------------------------------------------- NumPy / Numba helpers


def np_dtypes(x: Any) -> tuple[np.dtype, np.dtype]:
    """(compute dtype, output dtype) for a NumPy input."""
    dtype = np.asarray(x).dtype
    if dtype in (np.float32, np.float64):
        return dtype, dtype
    if dtype == np.float16:
        return np.dtype(np.float32), dtype
    if dtype.kind in "biu":
        return np.dtype(np.float64), np.dtype(np.float64)
    raise ValueError(f"expected a real-valued array, got dtype {dtype}")


def np_array(x: Any, dtype: np.dtype) -> np.ndarray:
    if is_tensor(x):
        x = x.detach().cpu()
        if not x.dtype.is_floating_point or x.itemsize < 4:  # bool/int/bf16: NumPy-safe
            x = x.double()
        x = x.numpy()
    return np.ascontiguousarray(x, dtype=dtype)


def np_mask(mask: Any) -> np.ndarray:
    if is_tensor(mask):
        return np.ascontiguousarray((mask.detach() != 0).cpu().numpy())
    return np.ascontiguousarray(np.asarray(mask) != 0)


def numba_dtypes(lead: Any) -> tuple[np.dtype, Any]:
    """(compute dtype, output dtype) of the Numba path for `lead` (an array or a CPU tensor)."""
    if is_tensor(lead):
        return np.dtype(str(t_compute_dtype(lead)).removeprefix("torch.")), t_out_dtype(lead)
    return np_dtypes(lead)


def from_numba(x: np.ndarray, like: Any, out_dtype: Any) -> Any:
    """Return a Numba result as the caller's type: array, or tensor on like's device."""
    if is_tensor(like):
        torch = torch_module()
        return torch.from_numpy(x).to(device=like.device, dtype=out_dtype)
    return x.astype(out_dtype, copy=False)


# --------------------------------------------------------------------- torch helpers


def import_torch() -> Any:
    """The torch module, imported on demand (backend="torch" on NumPy input)."""
    torch = torch_module()
    if torch is None:
        import torch
    return torch


def t_lead(x: Any) -> Any:
    """`x` as a tensor that decides device and dtype of the torch path."""
    return x if is_tensor(x) else import_torch().from_numpy(np.asarray(x))


def t_real(mask: Any, lead: Any) -> Any:
    """Boolean (B, T) tensor on lead's device: True on real tokens."""
    if is_tensor(mask):
        return mask.to(lead.device) != 0
    return as_t(np.asarray(mask) != 0, lead, import_torch().bool)


def from_torch(out: Any, given: Any, lead: Any) -> Any:
    """A torch-path result in the caller's type: tensor, or NumPy array for array input."""
    if is_tensor(given):
        return out.to(t_out_dtype(lead))
    return out.cpu().numpy().astype(np_dtypes(given)[1])


def t_compute_dtype(x: Any) -> Any:
    torch = torch_module()
    if x.dtype in (torch.float32, torch.float64):
        return x.dtype
    if x.dtype in (torch.float16, torch.bfloat16):
        return torch.float32
    if x.dtype.is_complex:
        raise ValueError(f"expected a real-valued tensor, got dtype {x.dtype}")
    return torch.float64


def as_t(x: Any, like: Any, dtype: Any) -> Any:
    torch = torch_module()
    return torch.as_tensor(x, device=like.device).to(dtype)


def t_out_dtype(x: Any) -> Any:
    torch = torch_module()
    return x.dtype if x.dtype.is_floating_point else torch.float64


def t_start(given: Any, mask: Any) -> tuple[Any, Any, Any, Any, Any]:
    """What a torch path starts from: (torch, lead tensor, compute dtype, real-token mask
    on lead's device, a 0-d zero of that dtype) for the input `given` that decides them."""
    torch = import_torch()
    lead = t_lead(given)
    dtype = t_compute_dtype(lead)
    return torch, lead, dtype, t_real(mask, lead), torch.zeros((), dtype=dtype, device=lead.device)
