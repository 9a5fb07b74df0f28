"""Every page in Korean shows no English of its own, wherever the text came from (issue 24: "a test that fails ...
when a page shows a string not taken from the catalogue").

The browser tests (tests/test_browser_korean_*.py) look for the catalogues' English phrases; this one looks for
English itself, so a sentence written straight into a page or made in lib/ without the catalogue is caught too: in
Streamlit's AppTest, each page in Korean (nothing configured; the API double configured; the tool page after a
question), every text an element shows (Markdown, captions, labels, options, help, alerts,
placeholders) is searched for two or more English words in a row. What may stay English is what the Korean
catalogue itself keeps and the providers' own names ("Llama 3.1 405B", "Together AI"), code (`...`,
code blocks: model ids, settings, commands), addresses, and what is not the app's to translate: the model's answers
and tool results (the double answers in English).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable, Iterator

import pytest
from streamlit.testing.v1 import AppTest

from lib.hosts.providers import PROVIDERS
from lib.i18n import catalogue
from tests.api_double import ApiDouble
from tests.conftest import TEST_TOKEN
from tests.test_pages import _clean_env  # noqa: F401 - autouse there and here: no host but the double's

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["pages/home.py", "pages/tool_calling.py", "pages/vision.py"]

WORD = r"[A-Za-z][A-Za-z'’]*"
RUN = re.compile(rf"{WORD}(?:[ \-]+{WORD})+")  # two or more English words in a row
CODE = re.compile(r"```.*?```|`[^`]*`", re.S)
ADDRESS = re.compile(r"https?://\S+|\b[\w.-]+\.(?:py|toml|md|json|jpg|png)\b|\b[\w-]+/[\w./:-]+")


def _kept() -> str:
    """What the Korean catalogue itself writes in Latin letters (names), without its code spans; and the providers'
    own names (`lib.hosts.providers`: a label with no catalogue text is a name, "Together AI")."""
    names = [p.label for p in PROVIDERS if isinstance(p.label_msg, str)]
    return " | ".join([CODE.sub(" ", v) for v in catalogue("ko").values()] + names)


KEPT = _kept()


def english_runs(texts: Iterable[str]) -> list[str]:
    """Runs of two or more English words in `texts` that the Korean catalogue does not keep as they are."""
    found = []
    for text in texts:
        plain = ADDRESS.sub(" ", CODE.sub(" ", text or ""))
        plain = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", plain)  # a Markdown link: its words only
        for run in RUN.findall(plain):
            run = run.strip(" -")
            if len(run.split()) >= 2 and run not in KEPT:
                found.append(run)
    return sorted(set(found))


def test_the_detector_finds_english_and_lets_names_and_code_be() -> None:
    assert english_runs(["모델: **Llama 3.1 405B**, `meta-llama/Llama-3.1-8B-Instruct` · Azure AI Foundry"]) == []
    assert english_runs(["답변을 기다리는 중 · The answer was cut off"]) == ["The answer was cut off"]
    assert english_runs(["설정: https://example.org/some path", "파일 .streamlit/secrets.toml"]) == []


def _texts(at: AppTest) -> list[str]:
    """Every text the run shows, but the model's answers and tool results (chat messages' Markdown and code)."""
    answers = {id(e) for m in at.chat_message for e in _walk(m) if type(e).__name__ in ("Markdown", "Code", "Json")}
    out: list[str] = []
    for e in _walk(at._tree):
        if id(e) in answers or type(e).__name__ in ("Code", "Json"):
            continue
        if type(e).__name__ == "Html":  # our own HTML: its visible words, not its script and CSS
            out.append(re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style)\b.*?</\1>", " ", e.body or "", flags=re.S)))
            continue
        for name in ("value", "label", "body", "help", "placeholder"):
            v = getattr(e, name, None) if name != "value" or type(e).__name__ in _VALUED else None
            if isinstance(v, str):
                out.append(v)
        for v in getattr(e, "options", None) or []:
            if isinstance(v, str):
                out.append(v)
        proto = getattr(e, "proto", None)
        for name in ("help", "placeholder", "label"):
            v = getattr(proto, name, None) if proto is not None else None
            if isinstance(v, str) and v:
                out.append(v)
    return out


_VALUED = {"Markdown", "Caption", "Title", "Header", "Subheader", "Error", "Warning", "Info", "Success", "Text",
           "Toast", "Latex"}


def _walk(node: Any) -> Iterator[Any]:
    yield node
    children = getattr(node, "children", None)
    if isinstance(children, dict):
        for child in children.values():
            yield from _walk(child)


def _korean(page: str, **secrets: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    for k, v in secrets.items():
        at.secrets[k] = v
    at.session_state["lang"] = "ko"
    at.run()
    if page != "pages/home.py":
        at.switch_page(page)
        at.run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize("page", PAGES)
def test_a_korean_page_with_nothing_configured_shows_no_english(page: str) -> None:
    at = _korean(page)
    assert english_runs(_texts(at)) == []


@pytest.mark.parametrize("page", PAGES)
def test_a_korean_page_on_a_configured_server_shows_no_english(page: str) -> None:
    with ApiDouble() as d:
        at = _korean(page, MODELS_PROVIDER="custom", MODELS_ENDPOINT=d.endpoint, MODELS_API_KEY=TEST_TOKEN)
        shown = _texts(at)
    assert any("Llama" in s for s in shown)  # the page drew its model: the texts are there to check
    assert english_runs(shown) == []


def test_a_korean_tool_turn_shows_no_english_around_the_answer() -> None:
    with ApiDouble() as d:
        at = _korean("pages/tool_calling.py", MODELS_PROVIDER="custom", MODELS_ENDPOINT=d.endpoint,
                     MODELS_API_KEY=TEST_TOKEN)
        at.chat_input[0].set_value("지금 도쿄는 몇 시예요?").run()
        assert not at.exception, at.exception
        shown = _texts(at)
    assert any("get_local_time" in s for s in shown), "the model called the clock"
    assert english_runs(shown) == []
