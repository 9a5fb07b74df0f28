"""The dependency direction holds: pages → ui → lib packages → shared helpers, no cycles, no hidden imports.

The layers are the README's "How it is built" map, as data. A module may import its own package and any lower
layer, never a higher one nor a sibling of its own layer; every import of a project module is a plain top-level
statement (one inside a function, a `try` or `if TYPE_CHECKING` is how a cycle hides); only `lib/client.py` imports
the SDK and Streamlit in `lib/`. A new module outside every group fails here until it is placed.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

LAYERS: tuple[tuple[str, ...], ...] = (
    ("lib.i18n",),  # the catalogues and `Msg`: nothing of ours (a refusal made in lib.common is a Msg too)
    ("lib.common",),  # redaction, safe text, ticking, the session store, untrusted JSON
    ("lib.hosts", "lib.tools"),  # where Llama runs (providers, settings, errors, limits, budget); the tools
    ("lib.client",),  # the one SDK module
    ("lib.tool_calling", "lib.vision"),  # the two demos, each given a stream opener
    ("lib.answers",),  # where an answer comes from (rehearsal → replay cache → live), recordings, transcripts
    ("lib.llama_prompt", "lib.images"),  # the library contract's paths (DESIGN.md): re-exports, nothing else
    ("ui",),  # what a person sees, shared by the pages
    ("pages",),
    ("app",),
)
PROJECT = ("lib", "ui", "pages", "app")


@dataclass(frozen=True)
class Finding:
    """One broken rule: where, and what."""

    module: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line}: {self.text}"


def modules(root: Path) -> dict[str, Path]:
    """Every project module by dotted name (a package by its own name)."""
    found: dict[str, Path] = {}
    for path in sorted(root.glob("**/*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] not in PROJECT and rel.parts != ("app.py",):
            continue
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def group_of(module: str) -> tuple[int, str] | None:
    """(layer index, group name) of a module, or None when no group holds it."""
    for index, groups in enumerate(LAYERS):
        for group in groups:
            if module == group or module.startswith(group + "."):
                return index, group
    return None


def _target(name: str, known: dict[str, Path]) -> str | None:
    """The project module an imported dotted name refers to (its longest known prefix)."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def imports(module: str, path: Path, known: dict[str, Path]) -> list[tuple[str, int, bool]]:
    """(imported project module, line, at top level) for every import statement of a project module."""
    tree = ast.parse(path.read_text(), str(path))
    top = {id(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))}
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: list[tuple[str, int, bool]] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # `from lib.vision import conversation` imports the submodule; `from lib.hosts.errors import X` the module
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for name in names:
            target = _target(name, known)
            if target and target != module:
                out.append((target, node.lineno, id(node) in top))
    return out


def check(root: Path) -> list[Finding]:
    """Every broken rule in the tree at `root`."""
    known = modules(root)
    findings: list[Finding] = []
    graph: dict[str, set[str]] = {m: set() for m in known}
    for module, path in known.items():
        place = group_of(module)
        if module in PROJECT and module != "app":  # lib/, ui/, pages/ themselves: a docstring, no code
            findings += [Finding(module, line, f"the package itself imports {target}: keep __init__ to its docstring")
                         for target, line, _ in imports(module, path, known)]
            continue
        if place is None:
            findings.append(Finding(module, 1, "belongs to no layer: add it to a package (or to LAYERS)"))
            continue
        for target, line, at_top in imports(module, path, known):
            graph[module].add(target)
            if not at_top:
                findings.append(Finding(module, line, f"imports {target} inside a function, `try` or `if`"))
            other = group_of(target)
            if other is None or other[1] == place[1]:
                continue
            if other[0] > place[0]:
                findings.append(Finding(module, line, f"imports {target}, a higher layer ({other[1]} above "
                                                      f"{place[1]})"))
            elif other[0] == place[0]:
                findings.append(Finding(module, line, f"imports {target}: {other[1]} and {place[1]} are siblings "
                                                      "of one layer and stay independent"))
    for cycle in cycles(graph):
        findings.append(Finding(cycle[0], 1, "import cycle: " + " → ".join(cycle + [cycle[0]])))
    return findings


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each as a list of its modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def external_imports(path: Path) -> set[str]:
    """Top-level package names of every non-project import in a file (anywhere in it)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            out.add(node.module)
    return out


# --- the project -------------------------------------------------------------------------------------------------


def test_the_project_has_no_cycle_no_upward_import_and_no_hidden_import() -> None:
    findings = check(ROOT)
    assert not findings, "\n".join(map(str, findings))


def test_every_lib_package_says_what_lives_there_and_what_it_may_import() -> None:
    for init in sorted((ROOT / "lib").glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert len(doc.split()) >= 20, f"{init.relative_to(ROOT)} needs a docstring: what lives here"
        assert "import" in doc.lower(), f"{init.relative_to(ROOT)}'s docstring should say what it may import"
    for package in ("lib/__init__.py", "ui/__init__.py"):
        doc = ast.get_docstring(ast.parse((ROOT / package).read_text())) or ""
        assert len(doc.split()) >= 20, f"{package} needs a docstring: the map of its layers"


def test_only_lib_client_speaks_to_the_sdk_and_streamlit_stays_out_of_lib() -> None:
    for name, path in modules(ROOT).items():
        if not name.startswith("lib"):
            continue
        used = external_imports(path)
        sdk = {m for m in used if m.startswith("azure.ai.inference")}
        ui = {m for m in used if m.split(".")[0] == "streamlit"}
        if name != "lib.client":
            assert not sdk, f"{name} imports {sdk}: lib/client.py is the one SDK module"
            assert not ui, f"{name} imports {ui}: lib/ is plain Python (only client.py's cache uses Streamlit)"


def test_the_library_contract_keeps_its_paths() -> None:
    from lib.images import ImageRejected, PreparedImage, prepare_image
    from lib.llama_prompt import ToolCall, build_system_prompt, parse_tool_call
    from lib.tool_calling import llama_prompt
    from lib.vision import images

    assert parse_tool_call is llama_prompt.parse_tool_call and build_system_prompt is llama_prompt.build_system_prompt
    assert ToolCall is llama_prompt.ToolCall
    assert prepare_image is images.prepare_image and PreparedImage is images.PreparedImage
    assert issubclass(ImageRejected, ValueError) and ImageRejected is images.ImageRejected
    call = parse_tool_call('<|python_tag|>brave_search.call(query="Llama herd")')
    assert call is not None and call.name == "brave_search" and call.arguments == {"query": "Llama herd"}


# --- the check itself fails where it should ----------------------------------------------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for package in ("lib", "lib/common", "lib/hosts", "lib/answers", "lib/tool_calling", "ui", "pages"):
        init = tmp_path / package / "__init__.py"
        init.parent.mkdir(parents=True, exist_ok=True)
        if not init.exists():
            init.write_text("")
    return tmp_path


def test_the_check_passes_a_clean_tree(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "lib/common/redact.py": "import re\n",
        "lib/hosts/errors.py": "from lib.common.redact import x\n",
        "lib/client.py": "from lib.hosts import errors\n",
        "ui/view.py": "from lib import client\n",
        "pages/home.py": "from ui import view\n",
        "app.py": "import pages.home\n",
    })
    assert check(root) == []


@pytest.mark.parametrize(("files", "words"), [
    ({"lib/common/redact.py": "from lib.hosts import errors\n", "lib/hosts/errors.py": ""},
     "lib.hosts.errors, a higher layer"),
    ({"lib/client.py": "from ui import view\n", "ui/view.py": ""}, "ui.view, a higher layer"),
    ({"lib/hosts/errors.py": "def f():\n    from lib.common import redact\n", "lib/common/redact.py": ""},
     "inside a function"),
    ({"lib/hosts/errors.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from lib.common import redact\n",
      "lib/common/redact.py": ""}, "inside a function, `try` or `if`"),
    ({"lib/answers/a.py": "from lib.answers import b\n", "lib/answers/b.py": "from lib.answers import a\n"},
     "import cycle: lib.answers.a → lib.answers.b → lib.answers.a"),
    ({"lib/tool_calling/loop.py": "from lib.vision import answer\n", "lib/vision/answer.py": ""}, "siblings"),
    ({"lib/stray.py": ""}, "lib.stray:1: belongs to no layer"),
], ids=["common-imports-hosts", "lib-imports-ui", "inner-import", "type-checking-import", "cycle", "siblings",
        "unplaced-module"])
def test_the_check_reports_what_breaks_the_direction(tmp_path: Path, files: dict[str, str], words: str) -> None:
    findings = check(_tree(tmp_path, files))
    assert any(words in str(f) for f in findings), [str(f) for f in findings]
