"""The servers under test as subprocesses: ChargeWatch as deployed, and the ocpp-lib baseline."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pstats
import signal
import subprocess
import sys
import time
from pathlib import Path

from procfs import free_port, progress

BENCH_DIR = Path(__file__).resolve().parent
READY_TIMEOUT_S = 30.0  # server start until its "listening" line
STOP_TIMEOUT_S = 20.0  # SIGINT until exit (ChargeWatch commits what is pending first)


class ServerProcess:
    """A server under test: started in its own session, stopped with SIGINT, always reaped.

    Its output goes to a log file rather than a pipe: a pipe nobody drains during the run
    would eventually block the server, and the log is what one wants to see when it fails.
    """

    def __init__(self, name: str, argv: list[str], ready_prefix: str, log_path: Path) -> None:
        self.name, self.argv, self.ready_prefix, self.log_path = name, argv, ready_prefix, log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self) -> None:
        self.launch()
        await self.wait_ready()

    def launch(self) -> None:
        """Popen, not asyncio's subprocess API: stop() must work synchronously (see there)."""
        with self.log_path.open("wb") as log:
            # Own session: a Ctrl-C in the terminal reaches only us, and we stop the server
            # in order (SIGINT, so ChargeWatch commits its journal) from our cleanup path.
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    async def wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with code {self.proc.returncode} before listening\n"
                    + self.log_tail()
                )
            if any(line.startswith(self.ready_prefix) for line in self.log_lines()):
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(
            f"{self.name} did not listen within {READY_TIMEOUT_S:.0f} s\n" + self.log_tail()
        )

    def log_lines(self) -> list[str]:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace").splitlines()
        return []

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(f"  | {line}" for line in self.log_lines()[-lines:])

    def stop(self) -> int | None:
        """SIGINT, wait, then SIGKILL; returns the exit code. Blocking on purpose: it is also
        the cleanup path after a cancellation, where awaiting is no longer possible."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return None if proc is None else proc.returncode
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT)
        try:
            return proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            progress(f"{self.name} did not stop within {STOP_TIMEOUT_S:.0f} s; killing it")
            proc.kill()
            return proc.wait(timeout=5)


def server_command(
    name: str, workdir: Path, ocpp_port: int, profile_to: Path | None
) -> tuple[list[str], str]:
    """The argv for a server (optionally under cProfile) and the prefix of its ready line.

    ChargeWatch runs as `chargewatch run` exactly as deployed: default config, so
    journal_sync "full" (fsync per group commit) and INFO logging.
    """
    if name == "chargewatch":
        flags = ["run", "--data-dir", str(workdir / "data"), "--host", "127.0.0.1"]
        flags += ["--ocpp-port", str(ocpp_port), "--http-port", str(free_port())]
        script = Path(sys.executable).parent / "chargewatch"
        module = ["-m", "chargewatch.cli", *flags]
        argv = [str(script), *flags] if script.exists() else [sys.executable, *module]
        ready = "ChargeWatch"
    else:
        module = [str(BENCH_DIR / "baseline_server.py"), "--host", "127.0.0.1"]
        module += ["--port", str(ocpp_port)]
        argv = [sys.executable, *module]
        ready = "baseline"
    if profile_to is not None:
        # cProfile writes its file when the interpreter exits normally, which SIGINT allows.
        argv = [sys.executable, "-m", "cProfile", "-o", str(profile_to), *module]
    return argv, ready


def report_profile(name: str, path: Path, top: int = 25) -> None:
    """Top functions by own and by cumulative time, written next to the .prof file."""
    text_path = path.with_suffix(".txt")
    with text_path.open("w") as out:
        stats = pstats.Stats(str(path), stream=out)
        stats.sort_stats("tottime").print_stats(top)
        stats.sort_stats("cumulative").print_stats(top)
    progress(f"{name} profile: {path} (top entries in {text_path})")
