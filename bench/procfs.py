"""Readings of a process from /proc (Linux): memory, CPU time; and small shared helpers."""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import socket
import sys
from pathlib import Path


def rss_kib(pid: int) -> int:
    """Resident set size of a process (VmRSS, Linux), in KiB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int, thread: int | None = None) -> float:
    """User + system CPU time of a process, all threads included (/proc/<pid>/stat), or of
    one of its threads (/proc/<pid>/task/<tid>/stat); the main thread's tid is the pid."""
    path = f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat"
    with open(path, encoding="ascii") as f:
        # The command name may contain spaces; the fields after it are space separated.
        fields = f.read().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of stat(5)
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
