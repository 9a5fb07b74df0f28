"""code_interpreter: run model-written Python in an isolated, resource-limited sandbox (opt-in).

Each call runs `python -I main.py` inside fresh Linux namespaces, built by a small launcher (`_LAUNCHER`):

* environment: nothing is inherited from the app; the program gets four fixed values (HOME and TMPDIR
  pointing at its own directory, LANG, MPLBACKEND) and no keys or tokens;
* network: a new network namespace whose only interface is a loopback that is down — no host, no
  loopback service of the app, no abstract Unix sockets;
* files: a new mount namespace with a new root (tmpfs, read-only) holding read-only views of /usr,
  /etc, /bin, /lib… and the Python installation, a fresh /proc, a few /dev nodes, and the program's
  own private directory (a size-limited tmpfs, the only writable place). The app's directory, the
  rest of /root, /home, /run, /var, /sys and /dev/shm are not there at all, and /tmp holds only the
  private directory;
* user: a random unprivileged uid/gid (a new one per call, no capabilities, no_new_privs, and a
  seccomp filter that refuses new user namespaces), so the process limit (RLIMIT_NPROC) is enforced
  and counts only this call's processes; limits on CPU time, address space, file size, open files;
  no core files;
* processes: a new PID namespace whose init is the launcher. When the program exits, is stopped at
  the deadline, or the app goes away (parent-death signals), init exits and the kernel kills every
  process left in the namespace — double-forked daemons included — before the call returns.

This needs root on Linux (x86-64, ARM64 or RISC-V) with namespaces and mounts permitted. Where
that is not possible (not root, or a container whose seccomp/AppArmor profile forbids unshare or
mount — for Docker that usually means adding CAP_SYS_ADMIN and allowing mount), the tool does NOT
fall back to running code unsandboxed: status() reports it unavailable and call() refuses.
It stays off unless ALLOW_CODE_INTERPRETER is set.
"""
from __future__ import annotations

import errno
import json
import math
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass

from lib.i18n import msg

from .base import CallContext, Outcome, ToolConfig, ToolFailure, ToolSpec, ToolStatus, failure_msg

SPEC = ToolSpec(
    name="code_interpreter",
    title="Python (sandboxed)",
    description="Run Python code and return what it prints (stdout and stderr).",
    parameters={
        "type": "object",
        "properties": {"code": {"type": "string", "description": "Python source to run; print() the results"}},
        "required": ["code"],
    },
    builtin=True,
    online=False,
)
ALIASES = {"source": "code", "python": "code", "program": "code", "script": "code"}

SOURCE = "sandboxed Python"
CPU_LIMIT_S = 5
MEMORY_LIMIT_MB = 512
FILE_LIMIT_MB = 10
EXTRA_PROCESSES = 32  # processes (and threads) the program may have at once, itself included
WORK_LIMIT_MB = 64  # the private directory: a tmpfs of this size
OPEN_FILES = 256
READ_LIMIT_BYTES = 200_000
GRACE_S = 2.0  # the sandbox's own init gives up this long after the call's deadline, should the app not stop it

# The program runs under a fresh uid/gid from this range (no user of this machine has one): RLIMIT_NPROC counts
# processes per real uid, so a private uid makes the limit count this call's processes only.
_SANDBOX_IDS = (1_500_000_000, 1_600_000_000)
_SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc")  # shown read-only inside
_ENV = {"LANG": "C.UTF-8", "MPLBACKEND": "Agg"}  # plus HOME and TMPDIR (the private directory); nothing inherited

# Started as `python -I -S -c _LAUNCHER <json>` with an empty environment, as root, in its own session. It stays in
# the app's namespaces as a supervisor and forks the sandbox's init (PID 1 of a new PID namespace), which makes new
# mount/network/IPC/UTS namespaces, builds the new root, then forks the program: limits, unprivileged ids,
# no_new_privs, then exec of `python -I main.py` (nothing of the model's code is evaluated in this launcher). When
# the program exits, init writes its status and exits, and the kernel kills whatever is left in the namespace.
# The supervisor kills init on SIGTERM, sent by the app at its deadline or by the kernel when the app dies (then it
# also removes the call's files); init has a parent-death signal too, so nothing outlives the supervisor. One line
# per event goes to the status fd: "exit N", "signal N", "deadline", or "unavailable ERRNO TEXT" when the sandbox
# could not be built (then no code has run).
_LAUNCHER = r"""
import ctypes, json, os, resource, select, signal, sys, time

cfg = json.loads(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
# Per CPU: audit arch for seccomp, then syscall numbers of pivot_root, keyctl, unshare, clone, clone3.
ARCH = {
    "x86_64": (0xC000003E, 155, 250, 272, 56, 435),
    "aarch64": (0xC00000B7, 41, 219, 97, 220, 435),
    "riscv64": (0xC00000F3, 41, 219, 97, 220, 435),
}.get(os.uname().machine)
RDONLY, NOSUID, NODEV, NOEXEC, REMOUNT, BIND, REC, PRIVATE = 1, 2, 4, 8, 32, 4096, 16384, 1 << 18
NEWNS, NEWUSER, NEWUTS, NEWIPC, NEWPID, NEWNET = 0x20000, 0x10000000, 0x4000000, 0x8000000, 0x20000000, 0x40000000
PDEATHSIG, NO_NEW_PRIVS, SET_SECCOMP, MNT_DETACH, KEYCTL_JOIN_SESSION_KEYRING = 1, 38, 22, 2, 1


def report(line):
    try:
        os.write(cfg["status_fd"], (line + "\n").encode())
    except OSError:
        pass


def check(rc, what):
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, what + ": " + os.strerror(err))


def c(text):
    return None if text is None else text.encode()


def mount(source, target, fstype, flags, data=None):
    check(libc.mount(c(source), c(target), c(fstype), ctypes.c_ulong(flags), c(data)), "mount " + target)


def bind(source, target, flags=RDONLY | NOSUID | NODEV):
    mount(source, target, None, BIND)
    mount(None, target, None, BIND | REMOUNT | flags)


def prctl(option, value):
    check(libc.prctl(option, ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)),
          "prctl")


def unshare(flags):
    check(libc.unshare(flags), "creating Linux namespaces")


def build_root(ctl, work, ids):
    root = ctl + "/root"
    mount(None, "/", None, REC | PRIVATE)  # nothing below propagates back to the app's mounts
    mount("tmpfs", root, "tmpfs", NOSUID | NODEV, "size=1m,nr_inodes=1024,mode=755")
    for name in cfg["system_dirs"]:
        path = "/" + name
        if os.path.islink(path):
            os.symlink(os.readlink(path), root + path)
        elif os.path.isdir(path):
            os.mkdir(root + path)
            bind(path, root + path)
    for path in cfg["python_dirs"]:  # the interpreter may live where the program's user cannot go (/root)
        os.makedirs(root + path, mode=0o755)
        bind(path, root + path)
    os.mkdir(root + "/dev")
    for name in ("null", "zero", "full", "random", "urandom"):
        open(root + "/dev/" + name, "w").close()
        bind("/dev/" + name, root + "/dev/" + name, NOSUID | NOEXEC)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):
        os.symlink(target, root + "/dev/" + name)
    os.mkdir(root + "/proc")
    try:
        mount("proc", root + "/proc", "proc", NOSUID | NODEV | NOEXEC, "hidepid=2")
    except OSError:
        mount("proc", root + "/proc", "proc", NOSUID | NODEV | NOEXEC)
    os.makedirs(root + work, mode=0o755)
    mount("tmpfs", root + work, "tmpfs", NOSUID | NODEV,
          "size=%d,nr_inodes=4096,mode=700,uid=%d,gid=%d" % (cfg["work_bytes"], ids, ids))
    with open(ctl + "/main.py", "rb") as src, open(root + work + "/main.py", "wb") as dst:
        dst.write(src.read())
    os.chown(root + work + "/main.py", ids, ids)
    os.chdir(root)
    check(libc.syscall(ctypes.c_long(ARCH[1]), b".", b"."), "pivot_root")
    check(libc.umount2(b".", MNT_DETACH), "umount old root")  # the app's file system is gone, not just hidden
    os.chdir("/")
    mount(None, "/", None, BIND | REMOUNT | RDONLY | NOSUID | NODEV)


def no_user_namespaces():
    # A seccomp filter: no new user namespaces (they would give the program root-like powers in new namespaces and
    # a larger kernel surface); clone3 answers ENOSYS so the C library falls back to clone, whose flags a filter
    # can see; other ABIs (32-bit, x32) are refused.
    audit, _, _, nr_unshare, nr_clone, nr_clone3 = ARCH
    allow, refuse, absent = 0x7FFF0000, 0x00050000 | 1, 0x00050000 | 38  # ALLOW, ERRNO(EPERM), ERRNO(ENOSYS)
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    program = [
        (ld, 0, 0, 4), (jeq, 1, 0, audit), (ret, 0, 0, absent),  # seccomp_data.arch
        (ld, 0, 0, 0), (jge, 0, 1, 0x40000000), (ret, 0, 0, absent),  # .nr; x32 numbers
        (jeq, 2, 0, nr_unshare), (jeq, 1, 0, nr_clone), (jeq, 2, 3, nr_clone3),
        (ld, 0, 0, 16), (jset, 2, 1, NEWUSER),  # .args[0] (flags), low half
        (ret, 0, 0, absent), (ret, 0, 0, allow), (ret, 0, 0, refuse),
    ]

    class Filter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Filter))]

    filters = (Filter * len(program))(*[Filter(*op) for op in program])
    fprog = Program(len(program), filters)
    check(libc.prctl(SET_SECCOMP, ctypes.c_ulong(2), ctypes.byref(fprog), ctypes.c_ulong(0), ctypes.c_ulong(0)),
          "seccomp")


def start_program(ids, work):
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # ignored signals would survive exec
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    status_fd = cfg["status_fd"]
    os.closerange(3, status_fd)
    os.closerange(status_fd + 1, 1 << 16)
    os.set_inheritable(status_fd, False)
    cpu = cfg["cpu"]
    for limit, soft, hard in ((resource.RLIMIT_CPU, cpu, cpu + 1), (resource.RLIMIT_AS, cfg["mem"], cfg["mem"]),
                              (resource.RLIMIT_FSIZE, cfg["fsize"], cfg["fsize"]),
                              (resource.RLIMIT_NPROC, cfg["nproc"], cfg["nproc"]),
                              (resource.RLIMIT_NOFILE, cfg["nofile"], cfg["nofile"]), (resource.RLIMIT_CORE, 0, 0)):
        resource.setrlimit(limit, (soft, hard))
    os.setgroups([])
    os.setgid(ids)
    os.setuid(ids)  # drops every capability; NPROC is enforced from here on
    # a fresh, empty session keyring instead of the app's (best effort)
    libc.syscall(ctypes.c_long(ARCH[2]), ctypes.c_long(KEYCTL_JOIN_SESSION_KEYRING), ctypes.c_long(0))
    prctl(NO_NEW_PRIVS, 1)  # set-uid programs cannot give privileges back
    no_user_namespaces()
    os.chdir(work)
    os.execve(cfg["exe"], [cfg["exe"]] + cfg["args"], dict(cfg["env"], HOME=work, TMPDIR=work))


def init(launcher_alive):
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    prctl(PDEATHSIG, signal.SIGKILL)
    if select.select([launcher_alive], [], [], 0)[0]:  # end of file: the supervisor died before prctl
        os._exit(1)
    ids, work = cfg["ids"], cfg["work"]
    try:
        if ARCH is None:
            raise OSError(38, "the sandbox does not support this CPU (%s)" % os.uname().machine)
        unshare(NEWNS | NEWNET | NEWIPC | NEWUTS)
        build_root(cfg["ctl"], work, ids)
    except OSError as exc:
        report("unavailable %d %s" % (exc.errno or 0, exc.strerror or exc))
        os._exit(125)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    program = os.fork()
    if program == 0:
        try:
            start_program(ids, work)
        except BaseException as exc:
            number = getattr(exc, "errno", 0) or 0
            report("unavailable %d could not start Python as the sandbox user (%s)" % (number, exc))
        os._exit(127)
    deadline = time.monotonic() + cfg["wall_s"]
    status = None
    while status is None:
        while True:  # reap everything: orphans are re-parented to this init
            try:
                pid, st = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid == program:
                status = st
        left = deadline - time.monotonic()
        if status is None and left <= 0:
            report("deadline")
            os._exit(0)
        if status is None:
            signal.sigtimedwait({signal.SIGCHLD}, left)
    if os.WIFSIGNALED(status):
        report("signal %d" % os.WTERMSIG(status))
    else:
        report("exit %d" % os.WEXITSTATUS(status))
    os._exit(0)  # init exits: the kernel kills every process still in the namespace


def finish():
    if os.getppid() != cfg["parent"]:  # the app is gone: nobody else will remove the call's files
        import shutil
        shutil.rmtree(cfg["ctl"], ignore_errors=True)
    os._exit(0)


def main():
    child, stopping = [], []

    def stop(signum, frame):
        stopping.append(signum)
        if child:
            os.kill(child[0], signal.SIGKILL)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    prctl(PDEATHSIG, signal.SIGTERM)  # the app dies (even by SIGKILL): stop the sandbox, then clean up
    if os.getppid() != cfg["parent"]:  # the app died before prctl
        finish()
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        unshare(NEWPID)
    except OSError as exc:
        report("unavailable %d %s" % (exc.errno or 0, exc.strerror or exc))
        os._exit(125)
    alive_r, alive_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(alive_w)
        try:
            init(alive_r)
        except BaseException as exc:
            report("unavailable 0 %s: %s" % (type(exc).__name__, exc))
        os._exit(125)
    child.append(pid)
    os.close(alive_r)
    if stopping:
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)  # returns once init, and with it everything in the namespace, is gone
    finish()


main()
"""


def status(config: ToolConfig) -> ToolStatus:
    """Off unless explicitly allowed; unavailable (never unsandboxed) where the sandbox cannot be built."""
    if not config.allow_code_interpreter:
        return ToolStatus.said(False, False, msg("toolnotes.status.code_disabled"))
    problem = sandbox_problem()
    if problem:  # one of ours (toolnotes.failure.sandbox_*) said in the page's language, the system's as it is
        return ToolStatus.said(False, False, msg("toolnotes.status.code_unavailable", problem=failure_msg(problem)))
    return ToolStatus.said(True, False, msg("toolnotes.status.code_enabled", work_mb=WORK_LIMIT_MB,
                                            processes=EXTRA_PROCESSES, cpu_s=CPU_LIMIT_S,
                                            memory_mb=MEMORY_LIMIT_MB))


def call(arguments: dict, ctx: CallContext) -> Outcome:
    """Run the code and report its output; failures of the code itself come back as ok=False."""
    if not ctx.config.allow_code_interpreter:
        raise ToolFailure(
            "code_interpreter is disabled (set ALLOW_CODE_INTERPRETER=1 to enable it)", SOURCE
        )
    problem = sandbox_problem(probe=False)
    if problem:
        raise ToolFailure(_unavailable(problem), SOURCE)
    code = _strip_fences(arguments["code"])
    budget = ctx.remaining()
    cpu = max(1, min(CPU_LIMIT_S, math.floor(budget)))
    run = _execute(code, budget, cpu)
    if run.unavailable:
        if run.permanent:
            with _state_lock:
                _state["problem"] = run.unavailable
        raise ToolFailure(_unavailable(run.unavailable), SOURCE)
    output = _combine(run.stdout, run.stderr)
    code_rc = run.returncode
    if run.timed_out:
        return _failed(f"error: the code did not finish within {budget:.1f} s and was stopped", output)
    if code_rc is None:
        raise ToolFailure("the Python sandbox stopped unexpectedly, so the code may not have run", SOURCE)
    if code_rc in (-signal.SIGXCPU, -signal.SIGKILL):
        return _failed(f"error: the code was stopped after using {cpu} s of CPU time", output)
    if code_rc and code_rc < 0:
        return _failed(f"error: the code was killed by signal {-code_rc}", output)
    if code_rc:
        if "MemoryError" in run.stderr:
            head = f"error: the code ran out of memory (limit {MEMORY_LIMIT_MB} MB)"
        else:
            head = f"error: the code failed (exit code {code_rc})"
        return _failed(head, output)
    if not output.strip():
        output = "(the code ran without printing anything; use print() to show results)"
    return Outcome(output, SOURCE)


# --- the sandbox ------------------------------------------------------------------------------------------

_PERMANENT = {errno.EPERM, errno.EACCES, errno.ENOSYS, errno.EINVAL, errno.ENOENT, errno.ENOEXEC}
_state_lock = threading.Lock()
_state: dict[str, str | None] = {}  # "problem": why the sandbox cannot work here (None: it works), once known


def sandbox_problem(probe: bool = True) -> str | None:
    """Why the sandbox cannot be built on this machine, or None if it can.

    The first call with `probe` runs an empty program in a real sandbox (well under a second) and remembers the
    answer; a refusal seen by a real call is remembered too. Without `probe` an unknown answer counts as "works".
    """
    if not sys.platform.startswith("linux"):
        return f"it needs Linux namespaces and this is {sys.platform}"
    if os.geteuid() != 0:
        return "the app does not run as root, which creating namespaces and an unprivileged user needs"
    with _state_lock:
        if "problem" in _state or not probe:
            return _state.get("problem")
        try:
            run = _execute("", 5.0, 1, args=("-I", "-S", "-c", "pass"))
        except ToolFailure as failure:
            return failure.message
        if run.unavailable or run.returncode != 0:
            problem = run.unavailable or "a test run in the sandbox failed"
            if run.permanent:
                _state["problem"] = problem
            return problem
        _state["problem"] = None
        return None


def _unavailable(problem: str) -> str:
    return (
        f"the Python sandbox is not available on this machine ({problem}), so the code was not run; run the app "
        "as root where Linux namespaces and mounts are allowed, or switch code_interpreter off"
    )


@dataclass(frozen=True)
class _Run:
    stdout: str = ""
    stderr: str = ""
    returncode: int | None = None  # the program's exit code or -signal; None if it did not finish
    timed_out: bool = False
    unavailable: str | None = None  # why the sandbox could not be built (no code ran)
    permanent: bool = False  # ... and building it will not work later either


def _execute(code: str, budget: float, cpu: int, args: tuple[str, ...] = ("-I", "main.py")) -> _Run:
    """Run `python <args>` with `code` as main.py in a fresh sandbox; wait at most `budget` seconds."""
    ids = secrets.randbelow(_SANDBOX_IDS[1] - _SANDBOX_IDS[0]) + _SANDBOX_IDS[0]
    with tempfile.TemporaryDirectory(prefix="llama-code-") as ctl:  # 0700, the app's only; the program's
        os.mkdir(os.path.join(ctl, "root"))                          # directory has the same path inside
        with open(os.path.join(ctl, "main.py"), "w", encoding="utf-8") as f:
            f.write(code)
        paths = [os.path.join(ctl, name) for name in (".stdout", ".stderr", ".status")]
        with open(paths[0], "wb") as out, open(paths[1], "wb") as err, open(paths[2], "wb") as st:
            cfg = {
                "ctl": ctl, "work": ctl, "ids": ids, "parent": os.getpid(), "status_fd": st.fileno(),
                "cpu": cpu, "mem": MEMORY_LIMIT_MB * 2**20, "fsize": FILE_LIMIT_MB * 2**20,
                "nproc": EXTRA_PROCESSES, "nofile": OPEN_FILES, "work_bytes": WORK_LIMIT_MB * 2**20,
                "wall_s": budget + GRACE_S, "system_dirs": list(_SYSTEM_DIRS), "python_dirs": _python_dirs(),
                "exe": sys.executable, "args": list(args), "env": _ENV,
            }
            try:
                proc = subprocess.Popen(
                    [sys.executable, "-I", "-S", "-c", _LAUNCHER, json.dumps(cfg)],
                    cwd=ctl,
                    env={},
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    pass_fds=(st.fileno(),),
                    start_new_session=True,
                    close_fds=True,
                )
            except OSError as exc:
                raise ToolFailure(f"could not start Python ({type(exc).__name__})", SOURCE) from None
            timed_out = False
            try:
                proc.wait(timeout=budget)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                _stop(proc)
        stdout, stderr = _read(paths[0]), _read(paths[1])
        with open(paths[2], encoding="utf-8", errors="replace") as f:
            report = f.read(4000)
    returncode = None
    for line in report.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "unavailable":
            number, _, text = rest.partition(" ")
            permanent = number.isdigit() and int(number) in _PERMANENT
            return _Run(unavailable=text or "unknown reason", permanent=permanent)
        if kind == "exit" and rest.isdigit():
            returncode = int(rest)
        elif kind == "signal" and rest.isdigit():
            returncode = -int(rest)
        elif kind == "deadline":
            timed_out = True
    if returncode is not None:  # finished, even if only just before the deadline
        timed_out = False
    return _Run(stdout, stderr, returncode, timed_out)


def _python_dirs() -> list[str]:
    """The interpreter's directories that must be mounted inside (those outside /usr, /lib… which always are)."""
    found = set()
    for path in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                 os.path.dirname(sys.executable), os.path.dirname(os.path.realpath(sys.executable))):
        for variant in (os.path.abspath(path), os.path.realpath(path)):
            top = variant.strip("/").split("/")[0]
            if top and top not in _SYSTEM_DIRS and os.path.isdir(variant):
                found.add(variant)
    ordered = sorted(found)
    return [p for p in ordered if not any(p.startswith(q + "/") for q in ordered if q != p)]


def _failed(head: str, output: str) -> Outcome:
    return Outcome(f"{head}\n{output}".rstrip(), SOURCE, ok=False)


def _stop(proc: subprocess.Popen) -> None:
    """End the sandbox and wait until nothing of it is left.

    SIGTERM asks the supervisor to kill the sandbox's init; it exits once the kernel has killed every process in
    the namespace. Should it not answer, its whole process group (itself and init) is killed instead.
    """
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            pass
    _kill_group(proc)


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill the child and anything it started (its own session/process group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        pass
    try:
        proc.wait(timeout=2)
    except subprocess.TimeoutExpired:
        pass


def _read(path: str) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read(READ_LIMIT_BYTES + 1)
    except OSError:
        return ""
    text = data[:READ_LIMIT_BYTES].decode("utf-8", errors="replace")
    if len(data) > READ_LIMIT_BYTES:
        text += "\n… [output cut]"
    return text


def _combine(stdout: str, stderr: str) -> str:
    stdout, stderr = stdout.rstrip(), stderr.rstrip()
    if stdout and stderr:
        return f"{stdout}\n[stderr]\n{stderr}"
    return stdout or stderr


_FENCE = re.compile(r"^\s*```[a-zA-Z0-9_+-]*\s*\n(.*?)\n?```\s*$", re.S)


def _strip_fences(code: str) -> str:
    """Models sometimes wrap code in a Markdown fence; run what is inside it."""
    match = _FENCE.match(code)
    return match.group(1) if match else code

