"""A bubblewrap sandbox for one submission: no network, a read-only system, hard limits.

:func:`run` starts ``bwrap`` (Debian package ``bubblewrap``; unprivileged Linux namespaces) so that
the command inside

* has **no network** (its own network namespace with only a loopback device);
* sees a **read-only** system (``/usr``), the Python installation and the virtual environment, a
  **read-only copy of labkit** (not the instructor's editable one) and the task's folder, and
  nothing else: no home folders, no instructor package, no ``solutions/``, no other submission;
* has a **private writable** ``/tmp`` (tmpfs, at most 4 x the file size limit) as its working and
  home folder;
* lives in its own **PID namespace** that dies with the grader (``--die-with-parent``), so no
  process outlives its submission, and sees only its own processes in ``/proc``;
* starts with an empty environment (only ``PATH``, ``HOME`` and the few variables the lab needs);
* has **hard limits** on address space, CPU seconds, file size and processes (set by the runner
  inside, after it drops to an unprivileged user when the grader runs as root), a wall-clock limit
  enforced from outside, and a cap on the bytes of output the grader reads.

When ``bwrap`` is missing, :func:`run` raises :class:`SandboxUnavailable` unless ``unsafe=True``: then
the command runs as a plain child process with the same limits and an empty environment, and the
gradebook says so. On macOS and Windows use a Linux container instead (docs/INSTRUCTOR_GUIDE.md).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SANDBOX_UIDS", "UNSAFE_NOTE", "Limits", "SandboxResult", "SandboxUnavailable", "available", "run"]

UNSAFE_NOTE = "no sandbox (--unsafe-no-sandbox): the submissions ran as plain processes"
#: The sandboxed code never runs as root; each grading process uses its own unprivileged uid (from
#: 50000 up), so that the process limit of one sandbox is not shared with another running beside it.
SANDBOX_UIDS = range(50000, 60000)


class SandboxUnavailable(RuntimeError):
    """bubblewrap is not installed (or does not work here); the message says what to do."""


@dataclass(frozen=True)
class Limits:
    """Per-submission limits: address space, CPU seconds, wall-clock seconds (whole submission), seconds
    per call of the student's function, file size, processes (the sandbox user's), output read."""

    memory_mb: int = 3072
    cpu_seconds: int = 120
    wall_seconds: int = 180
    case_seconds: int = 20
    file_mb: int = 64
    processes: int = 64
    output_mb: int = 64

    def for_runner(self, sandboxed: bool = True) -> dict:
        """The limits as the runner reads them; outside a sandbox the runner keeps the grader's user (it
        could not read the Python installation otherwise)."""
        uid = SANDBOX_UIDS.start + os.getpid() % len(SANDBOX_UIDS) if sandboxed else None
        return {"memory_mb": self.memory_mb, "cpu_seconds": self.cpu_seconds, "case_seconds": self.case_seconds,
                "notebook_seconds": self.wall_seconds, "file_mb": self.file_mb, "processes": self.processes,
                "uid": uid}


@dataclass(frozen=True)
class SandboxResult:
    """What came back: ``output`` (at most ``Limits.output_mb``), the exit status, why it was stopped
    (``"time"``, ``"output"`` or ``""``), the tail of stderr, wall and CPU seconds."""

    output: bytes
    returncode: int
    stopped: str
    stderr: str
    seconds: float
    cpu_seconds: float


def available() -> bool:
    """True when ``bwrap`` is installed and can start a sandbox here."""
    if shutil.which("bwrap") is None:
        return False
    probe = subprocess.run(["bwrap", "--ro-bind", "/", "/", "--unshare-net", "--die-with-parent", "true"],
                           capture_output=True, timeout=30)
    return probe.returncode == 0


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("lib", "lib64", "lib32", "bin", "sbin"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), f"/{name}"]
        elif path.is_dir():
            args += ["--ro-bind", str(path), f"/{name}"]
    for etc in ("/etc/ld.so.cache", "/etc/alternatives", "/etc/localtime"):
        if os.path.exists(etc):
            args += ["--ro-bind", etc, etc]
    return args


def _bind(source: Path, target: Path, made: set[str]) -> list[str]:
    """A read-only bind, with every parent folder created world-readable (bwrap would make them 0700)."""
    args = []
    for parent in reversed(target.parents):
        if str(parent) not in ("/", *made):
            made.add(str(parent))
            args += ["--perms", "0755", "--dir", str(parent)]
    made.add(str(target))
    return args + ["--ro-bind", str(source), str(target)]


def _python_paths() -> list[Path]:
    """The folders the grader's Python needs: its installation and its virtual environment."""
    paths = {Path(sys.base_prefix).resolve(), Path(sys.prefix)}
    return sorted(p for p in paths if p.is_dir())


def bwrap_command(command: list[str], binds: dict[str, Path], env: dict[str, str], tmp_mb: int = 256) -> list[str]:
    """The full ``bwrap`` command line: ``binds`` maps paths inside the sandbox to folders outside; the
    private ``/tmp`` (writable by anyone, sticky) holds at most ``tmp_mb`` (it lives in memory)."""
    made: set[str] = set()
    args = ["bwrap", "--die-with-parent", "--new-session", "--unshare-ipc", "--unshare-pid", "--unshare-net",
            "--unshare-uts", "--unshare-cgroup-try", *_system_binds()]
    for path in _python_paths():
        args += _bind(path, path, made)
    for inside, outside in binds.items():
        args += _bind(Path(outside), Path(inside), made)
    args += ["--perms", "1777", "--size", str(tmp_mb << 20), "--tmpfs", "/tmp", "--proc", "/proc", "--dev", "/dev",
             "--chdir", "/tmp", "--clearenv"]
    for name, value in env.items():
        args += ["--setenv", name, value]
    return args + command


def _outer_limits(limits: Limits) -> list[str]:
    """``prlimit`` in front of the command: hard limits that bwrap and everything inside inherit (the runner
    sets the exact, lower ones inside). A command prefix, not ``preexec_fn``: the grader may have threads."""
    memory = (limits.memory_mb + 512) << 20
    return ["prlimit", f"--as={memory}", f"--cpu={limits.cpu_seconds + 5}", f"--fsize={limits.file_mb << 20}",
            "--core=0", "--"]


def run(command: list[str], binds: dict[str, Path], env: dict[str, str], limits: Limits,
        unsafe: bool = False) -> SandboxResult:
    """Run ``command`` in a fresh sandbox and collect its output (see the module docstring).

    ``binds`` maps paths inside to folders outside (read-only). With ``unsafe`` and no bwrap, the
    command runs as a plain child with the same limits, the paths in ``command`` and ``env`` mapped outside.
    """
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", **env}
    if shutil.which("bwrap"):
        argv = bwrap_command(command, binds, env, tmp_mb=limits.file_mb * 4)
        child_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    elif unsafe:  # the same command, with the paths inside the sandbox replaced by the folders they bind
        def outside(value: str) -> str:
            for inside, folder in binds.items():
                if value == inside or value.startswith(inside + "/"):
                    return str(folder) + value[len(inside):]
            return value
        argv, child_env = [outside(a) for a in command], {k: outside(v) for k, v in env.items()}
    else:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed, so submissions cannot be sandboxed. Install it "
            "(Debian/Ubuntu: apt-get install bubblewrap), or grade inside a Linux container (see "
            "docs/INSTRUCTOR_GUIDE.md), or pass --unsafe-no-sandbox to run them as plain processes.")
    started = time.monotonic()
    proc = subprocess.Popen(_outer_limits(limits) + argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=child_env, start_new_session=True)
    cap, chunks, stopped, errors = limits.output_mb << 20, [], [""], []

    def kill(reason: str) -> None:
        stopped[0] = stopped[0] or reason
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def read_out() -> None:
        size = 0
        while chunk := proc.stdout.read(1 << 16):
            size += len(chunk)
            if size > cap:
                return kill("output")
            chunks.append(chunk)

    def read_err() -> None:
        while chunk := proc.stderr.read(1 << 16):
            errors.append(chunk)
            del errors[:-4]

    readers = [threading.Thread(target=f, daemon=True) for f in (read_out, read_err)]
    for reader in readers:
        reader.start()
    timer = threading.Timer(limits.wall_seconds, kill, args=("time",))
    timer.start()
    _, status, usage = os.wait4(proc.pid, 0)
    timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join(timeout=10)
    return SandboxResult(b"".join(chunks), proc.returncode, stopped[0],
                         b"".join(errors).decode("utf-8", "replace")[-2000:], round(time.monotonic() - started, 3),
                         round(usage.ru_utime + usage.ru_stime, 3))
