"""The tools that run code in child processes: code_interpreter and the SymPy fallback of wolfram_alpha."""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lib.tools import ToolConfig, run

ALLOWED = ToolConfig(allow_code_interpreter=True, timeout_s=5)
NO_WOLFRAM = ToolConfig(timeout_s=8)


def python(code: str, config: ToolConfig = ALLOWED):
    return run("code_interpreter", {"code": code}, config)


# --- code_interpreter ------------------------------------------------------------------------------------


def test_code_interpreter_is_off_unless_allowed() -> None:
    result = run("code_interpreter", {"code": "print('hi')"}, ToolConfig())
    assert not result.ok
    assert "code_interpreter is disabled" in result.content
    assert "hi" not in result.content


def test_printed_output_comes_back() -> None:
    result = python("import math\nprint(sum(range(101)))\nprint(math.factorial(20))")
    assert result.ok and result.source == "sandboxed Python" and not result.fallback
    assert result.content == "5050\n2432902008176640000"


def test_code_in_a_markdown_fence_runs() -> None:
    assert python("```python\nprint(6 * 7)\n```").content == "42"


def test_silent_code_gets_a_hint_to_print() -> None:
    result = python("x = 1 + 1")
    assert result.ok and "use print()" in result.content


def test_the_sandbox_sees_no_secrets_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_SECRET_FROM_PARENT")
    monkeypatch.setenv("BRAVE_API_KEY", "brave-secret-from-parent")
    result = python("import os\nprint(sorted(os.environ))\nprint(os.environ.get('GITHUB_TOKEN'))")
    assert result.ok
    assert "GITHUB_TOKEN" not in result.content.splitlines()[0]
    assert "ghp_SECRET_FROM_PARENT" not in result.content and "brave-secret" not in result.content
    assert result.content.splitlines()[1] == "None"


def test_each_run_gets_a_fresh_empty_working_directory() -> None:
    first = python("import os\nopen('note.txt', 'w').write('x')\nprint(os.getcwd())")
    second = python("import os\nprint(os.getcwd())\nprint(os.path.exists('note.txt'))")
    assert first.ok and second.ok
    cwd_one, cwd_two = first.content, second.content.splitlines()[0]
    assert cwd_one != cwd_two and second.content.splitlines()[1] == "False"
    assert not Path(cwd_one).exists(), "the temporary directory is removed afterwards"
    assert Path(os.getcwd()).resolve() != Path(cwd_one).resolve()


def test_stdin_is_closed() -> None:
    result = python("import sys\nprint(repr(sys.stdin.read()))")
    assert result.ok and result.content == "''"


def test_an_exception_returns_the_traceback_to_the_model() -> None:
    result = python("def f():\n    return 1 / 0\nprint('before')\nf()")
    assert not result.ok
    assert result.content.startswith("error: the code failed (exit code 1)")
    assert "before" in result.content
    assert 'main.py", line 2, in f' in result.content
    assert "ZeroDivisionError: division by zero" in result.content
    assert "execv" not in result.content and "resource" not in result.content  # the launcher stays out


def test_a_busy_loop_is_stopped_by_the_cpu_limit() -> None:
    start = time.monotonic()
    result = python("while True:\n    pass", ToolConfig(allow_code_interpreter=True, timeout_s=2))
    assert time.monotonic() - start < 2.5
    assert not result.ok
    assert result.content == "error: the code was stopped after using 1 s of CPU time"


def test_a_sleeping_program_is_stopped_at_the_wall_clock_timeout() -> None:
    start = time.monotonic()
    result = python("import time\nprint('started', flush=True)\ntime.sleep(30)",
                    ToolConfig(allow_code_interpreter=True, timeout_s=1.5))
    assert time.monotonic() - start < 2.2
    assert not result.ok
    assert result.content.startswith("error: the code did not finish within")
    assert "started" in result.content


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return any(line.startswith("State:") and "Z" in line for line in f)  # a zombie is dead
    except FileNotFoundError:
        return True


def test_child_processes_are_killed_with_the_program() -> None:
    code = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    result = python(code, ToolConfig(allow_code_interpreter=True, timeout_s=0.8))
    assert not result.ok and "did not finish" in result.content
    grandchild = int(result.content.splitlines()[1])
    deadline = time.monotonic() + 2
    while not _gone(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(grandchild), "a process started by the code outlived the timeout"


def test_a_memory_bomb_fails_cleanly() -> None:
    result = python("blocks = [bytearray(100 * 1024 * 1024)]\nblocks.append(' ' * (2 * 1024 ** 3))")
    assert not result.ok
    assert result.content.startswith("error: the code ran out of memory (limit 512 MB)")
    assert "MemoryError" in result.content


def test_a_file_bomb_is_stopped_by_the_file_size_limit() -> None:
    result = python("with open('big.bin', 'wb') as f:\n    for _ in range(100):\n        f.write(b'0' * 1_000_000)")
    assert not result.ok
    assert "File too large" in result.content


def test_a_flood_of_output_is_capped() -> None:
    result = python("for i in range(200000):\n    print('line', i)", ToolConfig(allow_code_interpreter=True,
                                                                            max_result_chars=500))
    assert result.ok
    assert len(result.content) <= 500 and result.content.endswith("[truncated]")
    assert result.content.startswith("line 0\nline 1\n")


# --- wolfram_alpha without an App ID: SymPy in a child process ------------------------------------------

MATHS = {
    "integral of x^2 sin x": "∫ x**2*sin(x) dx = -x**2*cos(x) + 2*x*sin(x) + 2*cos(x) + C",
    "derivative of x^3 + 2x": "d/dx (x**3 + 2*x) = 3*x**2 + 2",
    "solve x^2 - 4 = 0": "x**2 - 4 = 0 → x = -2 or x = 2",
    "What is 2^100?": "2^100 = 1267650600228229401496703205376",
    "sqrt(2)*3": "sqrt(2)*3 = 3*sqrt(2) ≈ 4.24264068712",
    "limit of sin(x)/x as x -> 0": "lim x→0 of sin(x)/x = 1",
}
NO_CLOSED_FORM = "integral of x^x"


def test_maths_is_answered_locally_without_an_app_id() -> None:
    with ThreadPoolExecutor(max_workers=3) as pool:
        queries = [*MATHS, NO_CLOSED_FORM]
        results = dict(zip(queries, pool.map(lambda q: run("wolfram_alpha", {"query": q}, NO_WOLFRAM), queries)))
    for query, expected in MATHS.items():
        result = results[query]
        assert result.ok, (query, result.content)
        assert result.content == expected
        assert result.source == "SymPy (local fallback)" and result.fallback and result.url is None
    unsolved = results[NO_CLOSED_FORM]
    assert not unsolved.ok
    assert unsolved.content == "error: local maths fallback: SymPy found no closed form for this integral"


def test_non_maths_without_an_app_id_explains_what_is_missing() -> None:
    result = run("wolfram_alpha", {"query": "population of France"}, NO_WOLFRAM)
    assert not result.ok and result.fallback
    assert result.content == ("error: Wolfram|Alpha is not configured (no WOLFRAM_ALPHA_APP_ID) and this is not "
                              "a math question the local fallback can answer")
    assert result.elapsed_s < 0.5, "no child process for questions that are not maths"


def test_a_calculation_that_would_run_forever_is_stopped() -> None:
    start = time.monotonic()
    result = run("wolfram_alpha", {"query": "9^9^9^9"}, ToolConfig(timeout_s=1.5))
    assert time.monotonic() - start < 2.2
    assert not result.ok
    assert result.content.startswith("error: local maths fallback: ")
    assert "needed too much time or memory" in result.content or "did not finish" in result.content


def test_code_smuggled_into_a_maths_question_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for query in (f"integral of __import__('os').system('touch {marker}')",
                  f"solve x = 1; open('{marker}', 'w')",
                  "derivative of x.__class__"):
        result = run("wolfram_alpha", {"query": query}, NO_WOLFRAM)
        assert not result.ok and "not a math question" in result.content
    assert not marker.exists()
