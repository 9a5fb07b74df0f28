"""code_interpreter: run model-written Python in a separate, resource-limited process (opt-in).

The sandbox is a child `python -I` process with an almost empty environment (no tokens or keys),
a fresh temporary working directory, stdin closed, and limits on CPU time, address space, file size
and process count, killed as a whole process group at the wall-clock deadline. It is NOT a security
boundary against a determined attacker: it has no network isolation and runs as the app's user.
That is why it is off unless ALLOW_CODE_INTERPRETER is set.
"""
from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import tempfile

from .base import CallContext, Outcome, ToolConfig, ToolFailure, ToolSpec, ToolStatus

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
EXTRA_PROCESSES = 32
READ_LIMIT_BYTES = 200_000

# Runs inside the child: apply the limits, then replace itself with `python -I main.py` (limits survive the
# process image change), so the model's code runs as a plain script — nothing is evaluated in any of our code.
_LAUNCHER = r"""
import os, resource, sys
cpu, mem, fsize, extra = (int(v) for v in sys.argv[1:5])
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
try:
    uid = os.getuid()
    mine = sum(1 for p in os.listdir("/proc") if p.isdigit() and os.stat("/proc/" + p).st_uid == uid)
except OSError:
    mine = 0
resource.setrlimit(resource.RLIMIT_NPROC, (mine + extra, mine + extra))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
os.execv(sys.executable, [sys.executable, "-I", "main.py"])
"""


def status(config: ToolConfig) -> ToolStatus:
    """Off unless explicitly allowed."""
    if config.allow_code_interpreter:
        return ToolStatus(
            True, False,
            f"Enabled: runs model-written Python in a subprocess with CPU ({CPU_LIMIT_S} s), memory "
            f"({MEMORY_LIMIT_MB} MB) and time limits; no network isolation",
        )
    return ToolStatus(
        False, False, "Disabled: set ALLOW_CODE_INTERPRETER=1 to let the model run Python in a sandbox"
    )


def call(arguments: dict, ctx: CallContext) -> Outcome:
    """Run the code and report its output; failures of the code itself come back as ok=False."""
    if not ctx.config.allow_code_interpreter:
        raise ToolFailure(
            "code_interpreter is disabled (set ALLOW_CODE_INTERPRETER=1 to enable it)", SOURCE
        )
    code = _strip_fences(arguments["code"])
    budget = ctx.remaining()
    cpu = max(1, min(CPU_LIMIT_S, math.floor(budget)))
    with tempfile.TemporaryDirectory(prefix="llama-code-") as work:
        with open(os.path.join(work, "main.py"), "w", encoding="utf-8") as f:
            f.write(code)
        out_path = os.path.join(work, ".stdout")
        err_path = os.path.join(work, ".stderr")
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            try:
                proc = subprocess.Popen(
                    [
                        sys.executable, "-I", "-c", _LAUNCHER,
                        str(cpu), str(MEMORY_LIMIT_MB * 2**20), str(FILE_LIMIT_MB * 2**20),
                        str(EXTRA_PROCESSES),
                    ],
                    cwd=work,
                    env={"LANG": "C.UTF-8", "HOME": work, "TMPDIR": work, "MPLBACKEND": "Agg"},
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
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
                _kill_group(proc)
        stdout = _read(out_path)
        stderr = _read(err_path)
    output = _combine(stdout, stderr)
    code_rc = proc.returncode
    if timed_out:
        return _failed(f"error: the code did not finish within {budget:.1f} s and was stopped", output)
    if code_rc in (-signal.SIGXCPU, -signal.SIGKILL):
        return _failed(f"error: the code was stopped after using {cpu} s of CPU time", output)
    if code_rc and code_rc < 0:
        return _failed(f"error: the code was killed by signal {-code_rc}", output)
    if code_rc:
        if "MemoryError" in stderr:
            head = f"error: the code ran out of memory (limit {MEMORY_LIMIT_MB} MB)"
        else:
            head = f"error: the code failed (exit code {code_rc})"
        return _failed(head, output)
    if not output.strip():
        output = "(the code ran without printing anything; use print() to show results)"
    return Outcome(output, SOURCE)


def _failed(head: str, output: str) -> Outcome:
    return Outcome(f"{head}\n{output}".rstrip(), SOURCE, ok=False)


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

