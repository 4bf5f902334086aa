"""Measuring a process: wall time and peak memory of its whole tree, killed past its limits."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil

STATUSES: tuple[str, ...] = ("ok", "failed", "oom", "timeout")
"""Values of ``status``: finished; raised or exited non-zero; killed past the memory limit;
killed past the time limit."""


def high_water_mark(proc: psutil.Process) -> int:
    """Peak resident memory (bytes) of ``proc``'s current program (``VmHWM``; 0 if unknown).

    Unlike ``ru_maxrss`` (getrusage / wait4), ``VmHWM`` starts afresh at ``exec``: the copy of
    the parent that ``fork`` makes before the command starts is not counted.
    """
    try:
        with open(f"/proc/{proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _tree_rss(root: psutil.Process) -> tuple[int, int]:
    """Current and peak resident memory (bytes) summed over ``root`` and its descendants
    (vanished ones count 0); the peak is each process's ``VmHWM``, or its RSS where the
    platform has no ``/proc``."""
    try:
        procs = [root, *root.children(recursive=True)]
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return 0, 0
    total, peak = 0, 0
    for proc in procs:
        try:
            rss = proc.memory_info().rss
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            continue
        total += rss
        peak += max(rss, high_water_mark(proc))
    return total, peak


def _kill_tree(pid: int, root: psutil.Process) -> None:
    """SIGKILL the process group ``pid`` and any descendant that left it."""
    try:
        stray = root.children(recursive=True)
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        stray = []
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for proc in stray:
        try:
            proc.kill()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue


def _tail(path: Path, n_lines: int) -> str:
    """The last ``n_lines`` non-empty lines of a text file (at most its last 64 kB)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 65536))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    return "\n".join(lines[-n_lines:])


def measure(
    command: Sequence[str],
    *,
    time_limit_s: float,
    memory_limit_mb: float,
    poll_s: float = 0.2,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    log_path: str | os.PathLike[str] | None = None,
    tail_lines: int = 15,
) -> dict[str, Any]:
    """Run ``command`` and measure its wall time and the peak memory of its process tree.

    The command runs in its own session (so its own process group). Every ``poll_s`` seconds
    the resident memory (RSS) of the process and all its descendants is summed; past
    ``memory_limit_mb`` or ``time_limit_s`` the whole group is killed (SIGKILL) and the run is
    recorded as ``oom`` or ``timeout``. The peak is the sum of the processes' high-water marks
    (``VmHWM``, reset at ``exec``), so a short peak between two polls is not missed (except in
    the last ``poll_s`` before exit); a run whose peak passed the limit counts as ``oom`` even when it finished.

    Parameters
    ----------
    command
        Program and arguments (no shell).
    time_limit_s, memory_limit_mb
        Limits of wall time (seconds) and of the tree's RSS (MiB).
    poll_s
        Polling interval in seconds.
    env, cwd
        Environment and working directory of the command (default: this process's).
    log_path
        File that receives the command's stdout and stderr; without it stderr goes to a
        temporary file (for the error message) and stdout is discarded.
    tail_lines
        Lines of output kept as the error of a failed run.

    Returns
    -------
    Dict with ``status`` (``ok``, ``failed``, ``oom``, ``timeout``), ``error`` (empty when ok;
    ``out of memory (> N MB)``, ``timeout (> N s)`` or the last lines of stderr),
    ``wall_s``, ``peak_rss_mb`` (MiB), ``returncode`` (negative: killed by that signal),
    ``time_limit_s`` and ``memory_limit_mb``.
    """
    limit_bytes = float(memory_limit_mb) * 2**20
    with tempfile.TemporaryDirectory(prefix="commst-measure-") as tmp:
        out_path = Path(log_path) if log_path is not None else Path(tmp) / "stderr.txt"
        out_path.parent.mkdir(parents=True, exist_ok=True)
        with open(out_path, "wb") as out:
            start = time.perf_counter()
            proc = subprocess.Popen(  # a list of arguments, no shell
                list(map(str, command)),
                stdin=subprocess.DEVNULL,
                stdout=out if log_path is not None else subprocess.DEVNULL,
                stderr=out if log_path is None else subprocess.STDOUT,
                env=None if env is None else dict(env),
                cwd=cwd,
                start_new_session=True,
            )
        root = psutil.Process(proc.pid)
        peak, status, wait_status = 0, "", 0
        while True:
            pid, wait_status = os.waitpid(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                break
            rss, hwm = _tree_rss(root)
            peak = max(peak, hwm)
            elapsed = time.perf_counter() - start
            if rss > limit_bytes or elapsed > time_limit_s:
                status = "oom" if rss > limit_bytes else "timeout"
                _kill_tree(proc.pid, root)
                _, wait_status = os.waitpid(proc.pid, 0)
                break
            time.sleep(poll_s)
        wall = time.perf_counter() - start
        returncode = os.waitstatus_to_exitcode(wait_status)
        proc.returncode = returncode  # reaped here: tell Popen it is done
        # not wait4's ru_maxrss: it counts the forked copy of this (large) process before exec
        if not status:
            if peak > limit_bytes:
                status = "oom"
            elif returncode != 0:
                status = "failed"
            else:
                status = "ok"
        if status == "oom":
            error = f"out of memory (> {memory_limit_mb:g} MB)"
        elif status == "timeout":
            error = f"timeout (> {time_limit_s:g} s)"
        elif status == "failed":
            tail = _tail(out_path, tail_lines)
            how = f"killed by signal {-returncode}" if returncode < 0 else f"exit status {returncode}"
            error = f"{how}: {tail}" if tail else how
        else:
            error = ""
    return {
        "status": status,
        "error": error,
        "wall_s": round(wall, 3),
        "peak_rss_mb": round(peak / 2**20, 1),
        "returncode": returncode,
        "time_limit_s": float(time_limit_s),
        "memory_limit_mb": float(memory_limit_mb),
    }
