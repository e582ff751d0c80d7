"""A seccomp filter for sandboxed runs, written as a classic BPF program (no libseccomp).

It always denies the kernel keyring (`add_key`, `request_key`, `keyctl`: keys live in the
kernel per uid, beyond any namespace a run gets, so one run could leave one for the next)
and `memfd_secret`, and every system call made through another ABI than the native one
(x32, or the 32-bit ``int 0x80`` entry, where syscall numbers differ). Without a memory
cgroup (`rewards.execution.memcg`) it also denies what would let a run hold memory outside
its address space and beyond its tmpfs sizes: `memfd_create`, `shmget` and `msgget`.
A denied call fails with ENOSYS, as on a kernel without it.

bubblewrap installs the filter (``--seccomp FD``) just before it runs the command, on
every sandboxed process, the zygotes included (their forks inherit it).
"""

from __future__ import annotations

import platform
import struct
from functools import cache

_LD_W_ABS, _JEQ, _JGE, _RET = 0x20, 0x15, 0x35, 0x06
_ALLOW, _ERRNO = 0x7FFF0000, 0x00050000
_ENOSYS = 38
_X32_BIT = 0x40000000

_ARCHES = {
    # machine: (AUDIT_ARCH, keyring calls + memfd_secret, memory calls)
    "x86_64": (0xC000003E, (248, 249, 250, 447), (319, 29, 68)),
    "aarch64": (0xC00000B7, (217, 218, 219, 447), (279, 194, 186)),
}


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


@cache
def program(deny_memory: bool) -> bytes | None:
    """The filter (an array of `struct sock_filter`), or None on an unknown architecture."""
    arch = _ARCHES.get(platform.machine())
    if arch is None:
        return None
    audit, keyring, memory = arch
    denied = keyring + (memory if deny_memory else ())
    deny = _insn(_RET, _ERRNO | _ENOSYS)
    body = [_insn(_LD_W_ABS, 0)]  # seccomp_data.nr
    # from instruction i, the deny at the end is len(denied) - i + 1 ahead (allow between)
    body.append(_insn(_JGE, _X32_BIT, len(denied) + 1, 0))
    for i, nr in enumerate(denied):
        body.append(_insn(_JEQ, nr, len(denied) - i, 0))
    body.append(_insn(_RET, _ALLOW))
    head = [_insn(_LD_W_ABS, 4),  # seccomp_data.arch: another ABI is denied outright
            _insn(_JEQ, audit, 0, len(body))]
    return b"".join(head + body) + deny
