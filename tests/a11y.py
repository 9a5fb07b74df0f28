"""axe-core in a Playwright page: the serious and critical WCAG 2.1 A/AA violations, readable in an assertion.

axe-core comes from the npm registry, once, into `$LLAMA_HERD_CACHE/axe` (default `~/.cache/llama-herd/axe`), the
version pinned here (`.ci/run` installs the same one before the tests; an installed copy of it is used as is):

    npm install --prefix ~/.cache/llama-herd/axe --save-exact axe-core@4.14.1

    from tests.a11y import axe_check, report
    found = axe_check(page)                 # after the page has settled
    assert not found.serious, report(found.serious)

Run as a script (`python3 tests/a11y.py`) it only installs axe-core if missing and prints where it is.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

AXE_VERSION = "4.14.1"
TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
SERIOUS = ("serious", "critical")


def axe_dir() -> Path:
    return Path(os.environ.get("LLAMA_HERD_CACHE") or Path.home() / ".cache" / "llama-herd") / "axe"


def _installed(package: Path) -> bool:
    try:
        return json.loads((package / "package.json").read_text()).get("version") == AXE_VERSION \
            and (package / "axe.min.js").is_file()
    except (OSError, ValueError):
        return False


def axe_source() -> str:
    """axe.min.js of the pinned version, installed with npm into the cache if it is not there yet.

    Raises RuntimeError when it can't be had (no npm, no registry): the browser test skips with that reason."""
    package = axe_dir() / "node_modules" / "axe-core"
    if not _installed(package):
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError(f"axe-core {AXE_VERSION} is not in {package} and npm is not installed")
        done = subprocess.run([npm, "install", "--prefix", str(axe_dir()), "--save-exact", "--no-audit", "--no-fund",
                               f"axe-core@{AXE_VERSION}"], capture_output=True, text=True, timeout=300)
        if done.returncode or not _installed(package):
            raise RuntimeError(f"npm could not install axe-core@{AXE_VERSION}: {(done.stderr or done.stdout)[-600:]}")
    return (package / "axe.min.js").read_text()


@dataclass
class Finding:
    """One axe rule's result on the page: its nodes' selectors (`target`) and HTML, and why (`summary`)."""

    rule: str
    impact: str | None
    help: str
    nodes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def targets(self) -> list[str]:
        return [" >> ".join(map(str, n.get("target") or [])) for n in self.nodes]


@dataclass
class AxeResult:
    serious: list[Finding]  # violations whose impact is serious or critical
    violations: list[Finding]  # every violation, whatever its impact
    incomplete: list[Finding]  # what axe could not decide (e.g. a contrast over an image or a gradient)
    checked: dict[str, int]  # per rule: how many nodes passed


# Runs in the page: axe on the whole document, WCAG 2.0/2.1 A and AA rules only. The result is cut down to what a
# report needs (axe's own objects hold the DOM nodes and are large).
_RUN = """async ([tags, exclude]) => {
  const r = await axe.run({exclude: exclude.map(s => [s])}, {runOnly: {type: 'tag', values: tags},
                                                          resultTypes: ['violations', 'incomplete']});
  const cut = list => list.map(v => ({rule: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map(n => ({target: n.target, html: n.html.slice(0, 300), impact: n.impact,
                               summary: (n.failureSummary || '').slice(0, 400),
                               data: (n.any || []).concat(n.all || [], n.none || []).map(c => c.data).filter(Boolean)
                               }))}));
  const checked = {};
  r.passes.forEach(p => { checked[p.id] = p.nodes.length; });
  return {violations: cut(r.violations), incomplete: cut(r.incomplete), checked: checked};
}"""


def axe_check(page: Any, exclude: tuple[str, ...] = ()) -> AxeResult:
    """Run axe-core on `page` (a Playwright sync Page) and sort what it found.

    `exclude`: CSS selectors of elements axe skips (each must say in the caller why the app can't fix it)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(content=axe_source())
    raw = page.evaluate(_RUN, [list(TAGS), list(exclude)])
    as_findings = lambda items: [Finding(v["rule"], v["impact"], v["help"], v["nodes"]) for v in items]  # noqa: E731
    violations = as_findings(raw["violations"])
    return AxeResult(serious=[v for v in violations if v.impact in SERIOUS], violations=violations,
                     incomplete=as_findings(raw["incomplete"]), checked=raw["checked"])


@dataclass
class ContrastCheck:
    """axe's color-contrast rule on some elements, each brought into view first: how many text nodes it judged
    (`checked`), how many passed, and what failed or could not be decided (and why, in each node's summary)."""

    checked: int
    passed: int
    violations: list[Finding]
    incomplete: list[Finding]


# One element at a time, brought into view where nothing covers it: at 1280×720 many captions are under the chat
# box's bar, outside the scrolled area or (in presenter mode) under the sticky photo, where axe cannot tell their
# background and leaves them "incomplete". Tried in the middle of the screen, at its bottom, at its top. An element in
# a sticky box (presenter mode's photo) is looked at with the page scrolled to its top: scrolled, other content passes
# under the box's opaque background, differently under each line, and axe gives up on it.
_CONTRAST = """async (selector) => {
  const out = {checked: 0, passed: 0, violations: [], incomplete: []};
  const frame = () => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const sticky = el => { for (let n = el; n; n = n.parentElement)
    if (getComputedStyle(n).position === 'sticky') return true; return false; };
  const on = (el, x, y) => { const top = document.elementFromPoint(x, y);
    return top && (el.contains(top) || top.contains(el)); };
  const seen = el => [...el.getClientRects()].every(r => [r.top + 2, r.top + r.height / 2, r.bottom - 2].every(
    y => on(el, r.left + 2, y) && on(el, r.left + r.width / 2, y) && on(el, r.right - 2, y)));
  for (const el of document.querySelectorAll(selector)) {
    if (!el.getClientRects().length || !el.textContent.trim()) continue;  // not drawn (a closed box) or no text
    if (sticky(el)) {
      for (let n = el.parentElement; n; n = n.parentElement) if (n.scrollTop) n.scrollTo({top: 0, behavior: 'instant'});
      el.scrollIntoView({block: 'nearest', inline: 'nearest', behavior: 'instant'});
      await frame();
    } else for (const block of ['center', 'end', 'start']) {
      el.scrollIntoView({block: block, inline: 'nearest', behavior: 'instant'});
      await frame();
      if (seen(el)) break;
    }
    const r = await axe.run(el, {runOnly: {type: 'rule', values: ['color-contrast']},
                                 resultTypes: ['passes', 'violations', 'incomplete']});
    const cut = list => list.flatMap(v => v.nodes.map(n => ({target: n.target, html: n.html.slice(0, 300),
                                                            summary: (n.failureSummary || '').slice(0, 400)})));
    const passes = r.passes.reduce((k, v) => k + v.nodes.length, 0);
    const bad = cut(r.violations), unsure = cut(r.incomplete);
    out.passed += passes; out.checked += passes + bad.length + unsure.length;
    out.violations.push(...bad); out.incomplete.push(...unsure);
  }
  return out;
}"""

CAPTIONS = '[data-testid="stCaptionContainer"]'


def caption_contrast(page: Any, selector: str = CAPTIONS) -> ContrastCheck:
    """axe's color-contrast rule on every drawn element matching `selector` (every caption by default), each one
    brought into view first so axe can judge it."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(content=axe_source())
    raw = page.evaluate(_CONTRAST, selector)
    rule = lambda nodes: [Finding("color-contrast", "serious", "text contrast", nodes)] if nodes else []  # noqa: E731
    return ContrastCheck(raw["checked"], raw["passed"], rule(raw["violations"]), rule(raw["incomplete"]))


def report(findings: list[Finding], where: str = "") -> str:
    """A readable list for an assertion message: rule, impact, how many, and each node's selector and HTML."""
    if not findings:
        return f"{where}: nothing found" if where else "nothing found"
    lines = [f"axe-core {AXE_VERSION} found {len(findings)} rule(s) broken" + (f" on {where}" if where else "") + ":"]
    for f in findings:
        lines.append(f"- {f.rule} ({f.impact}, {len(f.nodes)} node(s)): {f.help}")
        for node in f.nodes[:8]:
            lines.append(f"    at {' >> '.join(map(str, node.get('target') or []))}")
            lines.append(f"       {node.get('html', '')[:200]}")
            summary = " ".join(str(node.get("summary", "")).split())
            if summary:
                lines.append(f"       {summary[:300]}")
        if len(f.nodes) > 8:
            lines.append(f"    … and {len(f.nodes) - 8} more")
    return "\n".join(lines)


if __name__ == "__main__":  # .ci/run: install once, a no-op when the pinned version is cached
    axe_source()
    print(axe_dir() / "node_modules" / "axe-core" / "axe.min.js")
