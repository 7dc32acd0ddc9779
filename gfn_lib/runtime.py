"""Process settings that make CPU training faster without changing a trained number.

:func:`keep_freed_memory`: glibc's ``malloc`` hands large freed blocks back to the kernel (blocks from
``mmap``, and the trimmed top of the heap), so every step's fresh activations and gradients, a few MB
each, are new pages again and page-fault on first touch (the kernel zeroes each 4 KB page). Six
small-profile runs stacked took ~6,000-11,000 minor faults and 21-31 ms of system time a step here;
with freed memory kept, ~400 faults and 3-5 ms (``benchmarks/bench_multirun.py`` gives the step times).

:func:`flush_subnormals`: a policy that has collapsed onto one sequence (log P_F = 0, reward at its floor)
computes with subnormal floats (below 1.2e-38), which x86 CPUs handle by microcode assists, many times slower
than normal arithmetic: an `ablation-lr-1e-3` seed went from ~1 s to 27-31 s a step, and back to ~1 s with the
flush (``benchmarks/bench_subnormals.py``: 21x). They are the backward pass's gradients: in a profiled step of
that seed the weight-gradient matmuls (``aten::mm``, 34 calls) took 15.5 of 16.6 s; the stored weights and
optimiser state hold none. The flush gave that seed's first 50 steps the same losses, log Z and rewards (only
``grad_norm`` below 1e-13 and ``entropy`` below 1e-28 differ), and a whole reward-C run (167 steps), which
never collapses, the same numbers to the last bit. The flush reaches torch's OpenMP threads too, also those
started before it (by releasing them: :func:`restart_openmp_threads`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import platform
from collections.abc import Callable
from pathlib import Path

import torch

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_MAX = 32 << 20
"""glibc's upper bound for ``M_MMAP_THRESHOLD`` on 64-bit systems (larger values are refused)."""
TRIM_THRESHOLD = 2**31 - 1
"""Trim the heap's top only past 2 GB free (``mallopt`` takes a C ``int``): the process keeps what it
freed, its peak memory is unchanged."""


@functools.cache
def keep_freed_memory() -> bool:
    """Make glibc serve blocks up to 32 MB from the heap and never give the heap's freed top back, so
    freed tensors are reused without page faults. Process-wide and idempotent; ``False`` (and nothing
    done) where the C library is not glibc (macOS, musl)."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.mallopt.argtypes, libc.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX)) and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


OPENMP_LIBRARIES = ("libgomp", "libiomp5", "libomp")
"""OpenMP runtimes torch may be built with (GNU's in the PyPI wheels; Intel's and LLVM's elsewhere)."""
OMP_PAUSE_HARD = 2
"""``omp_pause_hard`` (OpenMP 5.0): the runtime frees its threads; the next parallel region starts new ones."""


def flush_subnormals() -> bool:
    """Flush subnormal floats to zero (x86 FTZ and DAZ) in every thread torch computes on. The setting is
    per thread and new threads inherit it, so torch's OpenMP pool, if a parallel op (e.g. a reward model
    trained with several threads) already started it, is released and starts again with the flush: without
    that, its threads kept subnormals (half of a 2-thread op's output, tested). Call it outside torch ops
    (a ``Trainer`` does, when it is built). ``False`` where the CPU cannot (then nothing changes)."""
    if not torch.set_flush_denormal(True):
        return False
    restart_openmp_threads()
    return True


def restart_openmp_threads() -> bool:
    """Release the OpenMP runtime's threads (``omp_pause_resource_all(omp_pause_hard)``), so that its next
    parallel region starts threads that inherit the calling thread's state. ``False`` where no OpenMP
    runtime with that call is loaded (then nothing changes)."""
    pause = _omp_pause_resource_all()
    return pause is not None and pause(OMP_PAUSE_HARD) == 0


@functools.cache
def _omp_pause_resource_all() -> Callable[[int], int] | None:
    """``omp_pause_resource_all`` of the OpenMP runtime loaded with torch (found in the process's mapped
    libraries: torch loads it privately, so the global symbol table does not have it), or None."""
    try:
        maps = Path("/proc/self/maps").read_text().splitlines()
    except OSError:  # not Linux
        return None
    paths = {fields[5] for line in maps if len(fields := line.split(maxsplit=5)) == 6}  # address ... path
    for path in sorted(p for p in paths if Path(p).name.startswith(OPENMP_LIBRARIES)):
        try:
            fn = ctypes.CDLL(path).omp_pause_resource_all
        except (OSError, AttributeError):  # an OpenMP before 5.0
            continue
        fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_int
        return fn
    return None
