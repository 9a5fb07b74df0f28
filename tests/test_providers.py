"""Where Llama runs: the provider table, family recognition, the fallback chains and the one-line reasons."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lib.catalog import fetch_models, parse_models
from lib.providers import (
    CHECKED_ON,
    PROVIDERS,
    context_limit,
    display_name,
    family_of,
    next_model,
    pick_model,
    provider,
    tool_format,
)
from tests.api_double import PRESETS, ApiDouble


def _listed(preset: str) -> list[str]:
    return [m["id"] for m in PRESETS[preset].models]


def test_the_table_has_every_provider_the_settings_name_with_what_a_person_needs() -> None:
    assert [p.id for p in PROVIDERS] == ["ollama", "custom", "nvidia", "openrouter", "huggingface", "azure"]
    for p in PROVIDERS:
        assert p.label and p.tools_models and p.vision_models and p.start and p.checked == CHECKED_ON
        assert p.exact_tools and p.exact_vision and p.free_tier
        if p.key_required:
            assert p.key_names and p.key_url.startswith("https://")
    assert provider("nvidia").max_inline_image_chars == 180_000 and not provider("nvidia").system_with_image
    assert provider("ollama").context_tokens == 4096 and provider("ollama").local
    assert provider("azure").key_names == ("AZURE_AI_CHAT_KEY",) and provider("azure").endpoint_name == "AZURE_AI_CHAT_ENDPOINT"
    assert all("github" not in p.id for p in PROVIDERS)


@pytest.mark.parametrize("model_id, family", [
    ("llama3.1:405b", "llama-3.1-405b"), ("llama3.1:8b", "llama-3.1-8b"), ("llama3.1", "llama-3.1-8b"),
    ("meta/llama-3.1-405b-instruct", "llama-3.1-405b"), ("meta-llama/Llama-3.1-405B-Instruct-FP8", "llama-3.1-405b"),
    ("meta-llama/llama-3.3-70b-instruct:free", "llama-3.3-70b"), ("Llama-3.3-70B-Instruct", "llama-3.3-70b"),
    ("llama3.2-vision", "llama-3.2-11b-vision"), ("llama3.2-vision:90b", "llama-3.2-90b-vision"),
    ("meta/llama-3.2-90b-vision-instruct", "llama-3.2-90b-vision"),
    ("Llama-4-Maverick-17B-128E-Instruct-FP8", "llama-4-maverick"), ("meta-llama/llama-4-scout", "llama-4-scout"),
    ("meta/llama-3.2-3b-instruct", "llama-3.2-text"),
    ("nvidia/llama-3.1-nemotron-70b-instruct", None), ("qwen2.5:7b", None), ("openai/gpt-4o-mini", None),
])
def test_families_are_recognised_in_every_hosts_spelling(model_id: str, family: str | None) -> None:
    fam = family_of(model_id)
    assert (fam.key if fam else None) == family


def test_tool_format_follows_the_family() -> None:
    assert tool_format("meta-llama/llama-3.3-70b-instruct") == "builtin"  # 3.3 reads 3.1's format
    assert tool_format("llama3.1:8b") == "builtin"
    assert tool_format("meta-llama/llama-4-maverick") == "json"
    assert tool_format("meta/llama-3.2-3b-instruct") == "json"
    assert tool_format("some-unknown-model") == "json"


@pytest.mark.parametrize("preset, page, model, exact, words", [
    ("vllm", "tools", "meta-llama/Llama-3.1-405B-Instruct-FP8", True, "the model this page was built for"),
    ("vllm", "vision", "meta-llama/Llama-3.2-90B-Vision-Instruct", True, "built for"),
    ("openrouter", "tools", "meta-llama/llama-3.3-70b-instruct", False,
     "Llama 3.1 405B isn't offered by OpenRouter any more; using Llama 3.3 70B, which reads the same tool format"),
    ("openrouter", "vision", "meta-llama/llama-3.2-11b-vision-instruct", False, "the same model at a smaller size"),
    ("nvidia", "vision", "meta/llama-3.2-90b-vision-instruct", True, "built for"),
    ("huggingface", "tools", "meta-llama/Llama-3.3-70B-Instruct", False, "reads the same tool format"),
    ("huggingface", "vision", "meta-llama/Llama-4-Maverick-17B-128E-Instruct", False, "closest Llama that reads images"),
    ("ollama", "tools", "llama3.1:8b", False, "isn't served by Ollama"),
    ("ollama", "vision", "llama3.2-vision:latest", False, "smaller size"),
])
def test_each_preset_gets_the_best_model_it_lists_and_says_why(preset: str, page: str, model: str, exact: bool,
                                                                words: str) -> None:
    pid = {"vllm": "custom"}.get(preset, preset)
    pick = pick_model(provider(pid), page, _listed(preset))  # type: ignore[arg-type]
    assert pick.model == model and pick.exact is exact
    assert words in pick.reason
    assert all(family_of(o) is not None for o in pick.options)  # no gpt-4o or qwen in a Llama picker


def test_a_retired_model_is_skipped_and_the_chain_goes_on() -> None:
    nv = provider("nvidia")
    listed = _listed("nvidia")
    assert pick_model(nv, "tools", listed).model == "meta/llama-3.1-405b-instruct"  # listed while retired
    after = next_model(nv, "tools", listed, "meta/llama-3.1-405b-instruct", [])
    assert after == "meta/llama-3.3-70b-instruct"
    pick = pick_model(nv, "tools", listed, skipped=["meta/llama-3.1-405b-instruct"])
    assert pick.model == after and "`meta/llama-3.1-405b-instruct` was retired or removed" in pick.reason
    assert next_model(nv, "tools", ["meta/llama-3.1-405b-instruct"], "meta/llama-3.1-405b-instruct", []) is None


def test_explicit_names_are_used_as_given_and_foundry_uses_deployments() -> None:
    pick = pick_model(provider("openrouter"), "tools", _listed("openrouter"), explicit="my/own-model")
    assert pick.model == "my/own-model" and "as set in TOOLS_MODEL" in pick.reason and "does not list it" in pick.reason
    az = pick_model(provider("azure"), "tools", None)
    assert az.model == "Llama-3.3-70B-Instruct" and "deployment" in az.reason
    az = pick_model(provider("azure"), "vision", None, skipped=["Llama-4-Maverick-17B-128E-Instruct-FP8"])
    assert az.model == "Llama-4-Scout-17B-16E-Instruct"


def test_empty_ollama_says_what_to_pull() -> None:
    pick = pick_model(provider("ollama"), "vision", ["qwen2.5:7b"])
    assert pick.model is None and "ollama pull llama3.2-vision" in pick.reason


def test_display_names_and_context_limits() -> None:
    assert display_name("meta-llama/llama-3.3-70b-instruct:free") == "Llama 3.3 70B"
    assert display_name("weird") == "weird"
    assert context_limit(provider("ollama"), "llama3.1:8b") == 4096
    assert context_limit(provider("openrouter"), "x", listed_context=65536) == 65536
    assert context_limit(provider("nvidia"), "x") == 8000


def test_listings_parse_openrouter_extras_and_skip_garbage() -> None:
    models = parse_models({"data": [m for m in PRESETS["openrouter"].models] + [{"no": "id"}, "junk", None]})
    assert [m.id for m in models] == _listed("openrouter")
    vision = next(m for m in models if m.id == "meta-llama/llama-3.2-11b-vision-instruct")
    assert vision.accepts_images and vision.context_length == 131072
    assert parse_models("not json") == [] and parse_models([{"id": "a"}])[0].id == "a"


def test_fetching_a_listing_never_raises() -> None:
    with ApiDouble() as d:
        ok = fetch_models(d.endpoint_for("ollama") + "/models", None)
        assert ok.available and "llama3.1:8b" in ok.ids
        assert "authorization" not in {k.lower() for k in d.requests[-1].headers}
        d.catalog_status = 500
        bad = fetch_models(d.endpoint_for("nvidia") + "/models", "nvapi-x")
        assert not bad.available and bad.status == 500
        azure = fetch_models(d.endpoint_for("azure") + "/models", "k")
        assert azure.status == 404
    down = fetch_models("http://127.0.0.1:9/v1/models", None, timeout_s=2)
    assert not down.available and "could not reach" in (down.error or "")


class _Listing(BaseHTTPRequestHandler):
    """A local listing server: `/moved` redirects to `target`, `/slow` answers late, `/junk` answers not JSON."""

    target = ""
    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        type(self).seen.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", self.target)
            self.end_headers()
            return
        if self.path == "/slow":
            time.sleep(1.5)
        body = b"<html>not json</html>" if self.path == "/junk" else json.dumps({"data": [{"id": "m"}]}).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # /slow: the client has given up
            pass

    def log_message(self, *args: object) -> None:
        pass


def _serve() -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Listing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_a_listing_that_redirects_elsewhere_never_gets_the_key_and_says_what_happened() -> None:
    first, second = _serve(), _serve()
    try:
        _Listing.seen = []
        _Listing.target = f"http://127.0.0.1:{second.server_port}/v1/models"
        moved = fetch_models(f"http://127.0.0.1:{first.server_port}/moved", "nvapi-secret")
        assert not moved.available and moved.status == 302 and "302" in (moved.error or "")
        assert [s["path"] for s in _Listing.seen] == ["/moved"], "the redirect was not followed"
        assert _Listing.seen[0]["authorization"] == "Bearer nvapi-secret"  # to the URL it was given for, only
        late = fetch_models(f"http://127.0.0.1:{first.server_port}/slow", None, timeout_s=0.3)
        assert not late.available and "in time" in (late.error or "")
        junk = fetch_models(f"http://127.0.0.1:{first.server_port}/junk", None)
        assert not junk.available and "JSON" in (junk.error or "")
        ok = fetch_models(f"http://127.0.0.1:{second.server_port}/v1/models", None)
        assert ok.ids == ["m"] and "authorization" not in _Listing.seen[-1]
    finally:
        first.shutdown()
        second.shutdown()


def test_a_listing_that_does_not_speak_http_is_explained_not_raised() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def answer() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(b"garbage\r\n\r\n")

    threading.Thread(target=answer, daemon=True).start()
    try:
        result = fetch_models(f"http://127.0.0.1:{server.getsockname()[1]}/v1/models", "k", timeout_s=5)
    finally:
        server.close()
    assert not result.available and "could not reach" in (result.error or "")


def test_a_model_refused_once_is_offered_again_rather_than_no_model_at_all() -> None:
    """One odd 404 must not leave every visitor with "lists no Llama text model" and a disabled page."""
    from lib.providers import pick_model, provider

    p = provider("openrouter")
    listed = ["meta-llama/llama-3.3-70b-instruct"]
    pick = pick_model(p, "tools", listed, None, {"meta-llama/llama-3.3-70b-instruct"})
    assert pick.model == "meta-llama/llama-3.3-70b-instruct"
    assert "trying it again" in pick.reason
