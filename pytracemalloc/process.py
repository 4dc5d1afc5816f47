"""The memory of the whole process, for the top's "Total process memory"."""

import os

_STATUS_FILE = "/proc/self/status"


def get_process_memory():
    """Resident memory of the current process in bytes (RSS), or None when
    the platform offers no way to read it.  Uses psutil when it can be
    imported, else Linux's /proc/self/status (VmRSS)."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        try:
            return psutil.Process(os.getpid()).memory_info().rss
        except Exception:  # psutil's own errors: fall back to /proc
            pass
    return _rss_from_proc()


def _rss_from_proc(path=_STATUS_FILE):
    try:
        with open(path, encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    value, unit = line.split()[1:3]
                    if unit.lower() != "kb":
                        return None
                    return int(value) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
