"""What the figures were measured on: CPU, cores, memory, BLAS libraries and their threads, versions."""
import ctypes
import datetime
import os
import platform
import re

import numpy as np
import torch

from comparisons.check import fastwalk
from comparisons.threads import SETTINGS, _loaded_openblas


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> str:
    try:
        with open("/proc/meminfo") as f:
            kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
        return f"{kb / 2**20:.1f} GiB"
    except (OSError, StopIteration):
        return "unknown"


def _openblas() -> str:
    """Version, kernel and thread count of the OpenBLAS NumPy loaded (asked from the library)."""
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    text = f"{blas.get('name')} {blas.get('version')}"
    lib = _loaded_openblas()
    if lib is not None:
        for prefix in ("scipy_openblas_", "openblas_"):
            for suffix in ("64_", ""):
                core, threads = getattr(lib, f"{prefix}get_corename{suffix}", None), \
                    getattr(lib, f"{prefix}get_num_threads{suffix}", None)
                if core is not None and threads is not None:
                    core.restype = ctypes.c_char_p
                    return f"{text} ({core().decode()} kernels, {threads()} threads)"
    return text


def _torch_blas() -> str:
    mkl = re.search(r"Math Kernel Library Version ([\d.]+)", torch.__config__.show())
    return f"{'MKL ' + mkl.group(1) if mkl else 'BLAS'}, {torch.get_num_threads()} threads"


def describe() -> dict:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "machine": f"{_cpu_model()}, {cores} cores, {_memory_gib()}, {platform.system()} {platform.release()}",
        "numpy": f"{np.__version__}, {_openblas()}",
        "torch": f"{torch.__version__}, {_torch_blas()}",
        "python": platform.python_version(),
        "thread settings": ", ".join(f"{k}={os.environ.get(k, '(unset)')}" for k in SETTINGS),
        "comparison walk": ("compiled (comparisons/check/_walk.c)" if fastwalk.AVAILABLE
                            else "NumPy (comparisons/check/_walk.c not built or LOCKSTEP_NUMPY_WALK set)"),
    }
