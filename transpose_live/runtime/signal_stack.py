"""The calling thread's alternate signal stack, kept on memory this process never frees.

Why: on CPUs with AMX, OpenVINO's CPU plugin installs its own alternate signal stack on the thread that
loads it (one per `ov.Core`), and when that Core goes away it unmaps that stack and puts back the one it
found, on whichever thread the Core dies in. With two Cores released out of order, or one released in
another thread, the thread keeps an alternate stack that is no longer mapped. The next signal with a
Python handler (Python's handlers ask for the alternate stack: Ctrl-C, SIGTERM, SIGALRM) then kills the
process with SIGSEGV instead of running the handler: the kernel cannot write the signal frame. Seen as
the whole test process dying (exit 139) at random places late in the suite, and reproduced in a few lines
(tests/test_signal_stack.py).

`keep_signal_stack()` registers a stack of our own (mapped once per thread, never unmapped, big enough
for the AMX state) as the calling thread's alternate stack. OpenVINO's release then finds another stack
than its own registered and leaves the registration alone. Call it after anything that may load the
OpenVINO CPU plugin on this thread (`backends.openvino_core.openvino_core` does).
"""

from __future__ import annotations

import ctypes
import functools
import mmap
import sys
import threading

_AT_MINSIGSTKSZ = 51  # getauxval key: the kernel's minimum signal frame size (grows with AMX state)
_FLOOR = 1 << 16  # 64 KiB: a Python C handler's frame plus the largest x86 signal frame, with room


class _StackT(ctypes.Structure):
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]


_kept: dict[int, tuple[mmap.mmap, int, int]] = {}  # thread ident -> (mapping, address, size)
_lock = threading.Lock()


@functools.cache
def _libc():
    """libc with the two calls typed, loaded once."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.sigaltstack.argtypes = [ctypes.POINTER(_StackT), ctypes.POINTER(_StackT)]
    libc.getauxval.restype = ctypes.c_ulong
    libc.getauxval.argtypes = [ctypes.c_ulong]
    return libc


def registered_signal_stack() -> tuple[int, int] | None:
    """(address, size) of the calling thread's alternate signal stack; None where none is registered or
    this is not Linux."""
    if not sys.platform.startswith("linux"):
        return None
    current = _StackT()
    if _libc().sigaltstack(None, ctypes.byref(current)) != 0 or current.ss_flags & 2:  # SS_DISABLE
        return None
    return int(current.ss_sp or 0), int(current.ss_size)


def keep_signal_stack() -> bool:
    """Registers this thread's own never-freed alternate signal stack (see the module doc); True when it
    is the registered one afterwards. Cheap when it already is (one system call). Linux only."""
    if not sys.platform.startswith("linux"):
        return False
    libc = _libc()
    ident = threading.get_ident()
    with _lock:
        kept = _kept.get(ident)
        if kept is None:
            size = max(_FLOOR, 4 * int(libc.getauxval(_AT_MINSIGSTKSZ)))
            size = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE * mmap.PAGESIZE
            mapping = mmap.mmap(-1, size)
            kept = _kept[ident] = (mapping, ctypes.addressof(ctypes.c_char.from_buffer(mapping)), size)
    _, address, size = kept
    if registered_signal_stack() == (address, size):
        return True
    ours = _StackT(address, 0, size)
    return libc.sigaltstack(ctypes.byref(ours), None) == 0  # fails only while running on the alt stack
