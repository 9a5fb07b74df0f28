"""Where Llama runs: the provider table, family recognition, the fallback chains and the one-line reasons."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lib.hosts.catalog import fetch_models, parse_models
from lib.hosts.providers import (
    AZURE_RETIRED_ROUTE,
    CHECKED_ON,
    KEYED_ORDER,
    OLLAMA_NO_MLLAMA,
    OLLAMA_NO_MLLAMA_SINCE,
    PROVIDERS,
    context_limit,
    display_name,
    endpoint_from_setting,
    family_of,
    fill_base_url,
    foundry_endpoint,
    missing_url_settings,
    next_model,
    parse_version,
    pick_model,
    provider,
    provider_for_host,
    retired_route_message,
    tool_format,
)
from tests.api_double import PRESETS, ApiDouble


def _listed(preset: str) -> list[str]:
    return [m["id"] for m in PRESETS[preset].models]


def test_the_table_has_every_provider_the_settings_name_with_what_a_person_needs() -> None:
    assert [p.id for p in PROVIDERS] == ["ollama", "custom", "nvidia", "openrouter", "huggingface", "azure",
                                         "sambanova", "together", "deepinfra", "cloudflare"]
    for p in PROVIDERS:
        assert p.label and p.tools_models and p.start and "2026-11-27" <= p.checked <= CHECKED_ON
        assert p.vision_models or p.vision_hint, f"{p.id}: no vision candidates and no word on why"
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
    assert pick.model is None and "llama4:scout" in pick.reason and OLLAMA_NO_MLLAMA in pick.reason
    assert "ollama pull llama3.1:8b" in pick_model(provider("ollama"), "tools", ["qwen2.5:7b"]).reason


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
    from lib.hosts.providers import pick_model, provider

    p = provider("openrouter")
    listed = ["meta-llama/llama-3.3-70b-instruct"]
    pick = pick_model(p, "tools", listed, None, {"meta-llama/llama-3.3-70b-instruct"})
    assert pick.model == "meta-llama/llama-3.3-70b-instruct"
    assert "trying it again" in pick.reason


# --- issue 18: hosts as they are (checked 2026-12-01) -------------------------------------------------------------


@pytest.mark.parametrize("pid, base, key, tools, vision", [
    ("sambanova", "https://api.sambanova.ai/v1", "SAMBANOVA_API_KEY", ("Meta-Llama-3.3-70B-Instruct",), ()),
    ("together", "https://api.together.xyz/v1", "TOGETHER_API_KEY", ("meta-llama/Llama-3.3-70B-Instruct-Turbo",), ()),
    ("deepinfra", "https://api.deepinfra.com/v1/openai", "DEEPINFRA_API_KEY",
     ("meta-llama/Llama-3.3-70B-Instruct-Turbo", "meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8",
      "meta-llama/Llama-4-Scout-17B-16E-Instruct"),
     ("meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8", "meta-llama/Llama-4-Scout-17B-16E-Instruct")),
    ("cloudflare", None, "CLOUDFLARE_API_TOKEN",
     ("@cf/meta/llama-3.3-70b-instruct-fp8-fast", "@cf/meta/llama-3.1-8b-instruct-fp8",
      "@cf/meta/llama-4-scout-17b-16e-instruct"), ()),
])
def test_the_new_hosts_are_entries_with_what_a_person_needs(pid: str, base: str | None, key: str,
                                                               tools: tuple[str, ...], vision: tuple[str, ...]) -> None:
    p = provider(pid)
    assert p.base_url == base and p.key_names == (key,) and p.key_required and p.setting_names[0] == key
    assert p.tools_models == tools and p.vision_models == vision
    assert p.checked == "2026-12-01" and p.key_url.startswith("https://") and p.start and p.free_tier
    assert all(family_of(m) is not None for m in p.tools_models + p.vision_models), "every candidate is a Llama"
    fams = {m: family_of(m) for m in p.tools_models + p.vision_models}
    assert all(not f.vision or f.key.startswith("llama-4") for m in p.tools_models if (f := fams[m]))
    assert all(fams[m].vision for m in p.vision_models)  # type: ignore[union-attr]
    assert pid in KEYED_ORDER
    if base:
        assert provider_for_host(base.split("/")[2]) == pid and fill_base_url(p, {}) == base


def test_free_tiers_are_data_the_quota_warnings_can_use() -> None:
    samba = provider("sambanova").limits
    assert (samba.per_minute, samba.per_day) == (20, 20)
    assert "no free tier" in provider("together").free_tier
    assert "10 000 neurons a day" in provider("cloudflare").free_tier


def test_keys_are_tried_exact_model_first_then_free_tiers_then_paid() -> None:
    keyed = [p.id for p in PROVIDERS if p.key_required]
    assert sorted(KEYED_ORDER) == sorted(keyed) and len(set(KEYED_ORDER)) == len(KEYED_ORDER)
    assert KEYED_ORDER[0] == "nvidia"  # the only host with an exact model (Llama 3.2 90B Vision)
    free = [KEYED_ORDER.index(pid) for pid in ("openrouter", "huggingface", "sambanova", "cloudflare")]
    paid = [KEYED_ORDER.index(pid) for pid in ("deepinfra", "together", "azure")]
    assert max(free) < min(paid)


def test_cloudflares_base_url_is_filled_from_the_account_id_setting() -> None:
    cf = provider("cloudflare")
    assert cf.base_url is None and "{ACCOUNT_ID}" in cf.base_url_template
    assert cf.setting_names == ("CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ACCOUNT_ID")
    assert fill_base_url(cf, {}) == "" and missing_url_settings(cf, {}) == ("CLOUDFLARE_ACCOUNT_ID",)
    url = "https://api.cloudflare.com/client/v4/accounts/0123456789abcdef0123456789abcdef/ai/v1"
    assert fill_base_url(cf, {"CLOUDFLARE_ACCOUNT_ID": " 0123456789abcdef0123456789abcdef "}) == url
    assert missing_url_settings(cf, {"CLOUDFLARE_ACCOUNT_ID": "0123456789abcdef0123456789abcdef"}) == ()
    # A whole pasted URL gives its account ID; placeholders count as missing; nothing escapes the path segment.
    assert fill_base_url(cf, {"CLOUDFLARE_ACCOUNT_ID": url + "/chat/completions"}) == url
    for placeholder in ("<account id>", "...", "…", "xxxx", "{ACCOUNT_ID}"):
        assert fill_base_url(cf, {"CLOUDFLARE_ACCOUNT_ID": placeholder}) == "", placeholder
    assert fill_base_url(cf, {"CLOUDFLARE_ACCOUNT_ID": "a b?c#d"}).endswith("/accounts/a%20b%3Fc%23d/ai/v1")
    assert fill_base_url(provider("nvidia"), {}) == "https://integrate.api.nvidia.com/v1"
    assert fill_base_url(provider("azure"), {}) == "" and missing_url_settings(provider("azure"), {}) == ()
    assert provider_for_host("api.cloudflare.com") == "cloudflare"


def test_cloudflare_never_picks_a_vision_model_and_says_why() -> None:
    cf = provider("cloudflare")
    listing = _listed("cloudflare")
    assert "@cf/meta/llama-4-scout-17b-16e-instruct" in listing  # it reads images elsewhere, not through this route
    for listed in (None, listing):
        pick = pick_model(cf, "vision", listed)
        assert pick.model is None and not pick.options and "rejects image parts" in pick.reason
    explicit = pick_model(cf, "vision", None, explicit="@cf/meta/llama-4-scout-17b-16e-instruct")
    assert explicit.model is None and "rejects image parts" in explicit.reason
    tools = pick_model(cf, "tools", None)  # no model list: the candidates as given
    assert tools.model == "@cf/meta/llama-3.3-70b-instruct-fp8-fast" and "no model list" in tools.reason
    assert next_model(cf, "tools", None, tools.model, []) == "@cf/meta/llama-3.1-8b-instruct-fp8"


@pytest.mark.parametrize("preset, page, model, words", [
    ("sambanova", "tools", "Meta-Llama-3.3-70B-Instruct", "reads the same tool format"),
    ("sambanova", "vision", None, "SambaNova serves no Llama that reads images"),
    ("together", "tools", "meta-llama/Llama-3.3-70B-Instruct-Turbo", "reads the same tool format"),
    ("together", "vision", None, "Together serves no Llama that reads images"),
    ("deepinfra", "tools", "meta-llama/Llama-3.3-70B-Instruct-Turbo", "isn't offered by DeepInfra any more"),
    ("deepinfra", "vision", "meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8", "closest Llama that reads images"),
])
def test_the_new_hosts_pick_the_right_model_for_each_page_from_their_listing(preset: str, page: str,
                                                                             model: str | None, words: str) -> None:
    pick = pick_model(provider(preset), page, _listed(preset))  # type: ignore[arg-type]
    assert pick.model == model and words in pick.reason and not pick.exact
    assert all(family_of(o) is not None for o in pick.options)  # no DeepSeek, Qwen or gpt-oss in a Llama picker


def test_the_new_hosts_without_a_listing_use_their_first_candidate() -> None:
    assert pick_model(provider("sambanova"), "tools", None).model == "Meta-Llama-3.3-70B-Instruct"
    deepinfra = pick_model(provider("deepinfra"), "vision", None)
    assert deepinfra.model == "meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8"
    pick = pick_model(provider("together"), "vision", None)
    assert pick.model is None and "Together serves no Llama that reads images" in pick.reason


# What NVIDIA's catalog plausibly lists late in 2026: retired models stay listed (and answer 410).
NVIDIA_LATE_2026 = ["meta/llama-3.1-405b-instruct", "meta/llama-3.3-70b-instruct", "meta/llama-3.1-70b-instruct",
                    "meta/llama-3.1-8b-instruct", "meta/llama-3.2-90b-vision-instruct",
                    "meta/llama-3.2-11b-vision-instruct", "meta/llama-4-maverick-17b-128e-instruct",
                    "nvidia/llama-3.1-nemotron-70b-instruct"]


def test_nvidias_picks_follow_the_end_of_life_dates() -> None:
    nv = provider("nvidia")
    assert nv.retired_on == {"meta/llama-3.1-405b-instruct": "2026-04", "meta/llama-3.3-70b-instruct": "2026-09",
                             "meta/llama-4-maverick-17b-128e-instruct": "2026-07-27",
                             "meta/llama-4-scout-17b-16e-instruct": "2026-05"}
    assert not set(nv.retired_on) & {m.lower() for m in nv.tools_models + nv.vision_models}, "dead ones not offered"
    assert nv.vision_models[0] == "meta/llama-3.2-90b-vision-instruct" and "not confirmed" in nv.exact_tools
    tools = pick_model(nv, "tools", NVIDIA_LATE_2026)
    assert tools.model == "meta/llama-3.1-70b-instruct" and not tools.exact
    assert tools.reason == ("NVIDIA API catalog retired Llama 3.1 405B (2026-04); using Llama 3.1 70B, which reads the "
                            "same tool format.")
    assert tools.options[:2] == ("meta/llama-3.1-70b-instruct", "meta/llama-3.1-8b-instruct")
    assert set(tools.options[2:]) == {"meta/llama-3.1-405b-instruct", "meta/llama-3.3-70b-instruct",
                                      "meta/llama-4-maverick-17b-128e-instruct"}  # dead ones last, in the picker
    vision = pick_model(nv, "vision", NVIDIA_LATE_2026)
    assert vision.model == "meta/llama-3.2-90b-vision-instruct" and vision.exact
    after = next_model(nv, "vision", NVIDIA_LATE_2026, "meta/llama-3.2-90b-vision-instruct", [])
    assert after == "meta/llama-3.2-11b-vision-instruct"  # not Maverick: it ended 2026-07-27
    assert pick_model(nv, "tools", None).model == "meta/llama-3.1-70b-instruct"  # listing failed: the live candidate
    assert pick_model(nv, "vision", None).model == "meta/llama-3.2-90b-vision-instruct"


def test_a_retired_model_is_tried_only_when_nothing_else_is_listed_and_says_so() -> None:
    nv = provider("nvidia")
    pick = pick_model(nv, "tools", ["meta/llama-3.3-70b-instruct"])
    assert pick.model == "meta/llama-3.3-70b-instruct" and not pick.exact
    assert "still listed by NVIDIA API catalog but was retired (2026-09)" in pick.reason


def test_ollama_from_0_30_gets_llama_4_not_llama_3_2_vision() -> None:
    ol = provider("ollama")
    assert ol.vision_models[0] == "llama4:scout" and ol.start == "ollama pull llama3.1:8b"
    assert OLLAMA_NO_MLLAMA_SINCE == (0, 30) and "Ollama 0.30+ can't run Llama 3.2 Vision" in OLLAMA_NO_MLLAMA
    both = ["llama3.1:8b", "llama3.2-vision:latest", "llama4:scout"]
    assert pick_model(ol, "vision", both, server_version="0.34.1").model == "llama4:scout"
    assert pick_model(ol, "vision", both).model == "llama4:scout"  # version unknown: Llama 4 first
    old = pick_model(ol, "vision", both, server_version="0.29.2")
    assert old.model == "llama3.2-vision:latest" and "smaller size" in old.reason  # 0.29 still runs it
    only = ["llama3.1:8b", "llama3.2-vision:latest"]
    new = pick_model(ol, "vision", only, server_version="0.30.5")
    assert new.model is None and "can't run it" in new.reason and OLLAMA_NO_MLLAMA in new.reason
    unknown = pick_model(ol, "vision", only)
    assert unknown.model == "llama3.2-vision:latest" and "needs Ollama 0.29 or older" in unknown.reason
    assert pick_model(ol, "vision", None).model == "llama4:scout"  # no listing: the table's order
    assert pick_model(ol, "vision", None, server_version="0.34.1").options[:3] == ("llama4:scout", "llama4:maverick",
                                                                                     "llama4")
    assert "llama3.2-vision" not in pick_model(ol, "vision", None, server_version="0.34.1").options
    assert family_of("llama4:latest").key == "llama-4-scout"  # type: ignore[union-attr]  # Ollama's default llama4
    assert pick_model(ol, "tools", only, server_version="0.34.1").model == "llama3.1:8b"  # text Llamas still work
    assert next_model(ol, "vision", both, "llama4:scout", [], server_version="0.34.1") is None


@pytest.mark.parametrize("text, version", [("0.34.1", (0, 34, 1)), ("v0.29.2-rc1", (0, 29, 2)), ("0.30", (0, 30)),
                                           ("", None), (None, None), ("unknown", None)])
def test_server_versions_are_read_leniently(text: str | None, version: tuple[int, ...] | None) -> None:
    assert parse_version(text) == version


@pytest.mark.parametrize("pasted, endpoint", [
    ("https://res.openai.azure.com/openai/v1", "https://res.openai.azure.com/openai/v1"),
    ("https://res.openai.azure.com/openai/v1/", "https://res.openai.azure.com/openai/v1"),
    ("  https://res.openai.azure.com/openai/v1/chat/completions  ", "https://res.openai.azure.com/openai/v1"),
    ("https://res.openai.azure.com", "https://res.openai.azure.com/openai/v1"),
    ("https://res.openai.azure.com/openai", "https://res.openai.azure.com/openai/v1"),
    ("res.openai.azure.com", "https://res.openai.azure.com/openai/v1"),
    ("https://res.services.ai.azure.com/openai/v1/", "https://res.services.ai.azure.com/openai/v1"),
    ("https://res.services.ai.azure.com/models", "https://res.services.ai.azure.com/openai/v1"),  # the retired route
    ("https://res.services.ai.azure.com/models/chat/completions?api-version=2024-05-01-preview",
     "https://res.services.ai.azure.com/openai/v1"),
    ("https://res.services.ai.azure.com/api/projects/demo", "https://res.services.ai.azure.com/openai/v1"),
    ("https://res.openai.azure.com/openai/deployments/llama/chat/completions?api-version=2024-10-21",
     "https://res.openai.azure.com/openai/v1"),
    ("https://res.cognitiveservices.azure.com/", "https://res.cognitiveservices.azure.com/openai/v1"),
    # Not a Foundry resource host: only a copied request path and query go.
    ("https://gw.example/azure/v1/chat/completions?x=1", "https://gw.example/azure/v1"),
    ("https://llama-405b.eastus2.models.ai.azure.com/", "https://llama-405b.eastus2.models.ai.azure.com"),
    ("http://127.0.0.1:8000/azure/v1", "http://127.0.0.1:8000/azure/v1"),
    ("", ""),
])
def test_foundry_endpoints_are_made_into_the_openai_v1_route(pasted: str, endpoint: str) -> None:
    assert foundry_endpoint(pasted) == endpoint
    assert foundry_endpoint(endpoint) == endpoint  # idempotent
    assert endpoint_from_setting(provider("azure"), pasted) == endpoint


def test_endpoint_settings_of_other_providers_are_only_trimmed() -> None:
    assert endpoint_from_setting(provider("custom"), " http://gpu-box:8000/v1/ ") == "http://gpu-box:8000/v1"
    assert endpoint_from_setting(provider("azure"), "  ") == ""
    assert provider_for_host("res.openai.azure.com") == "azure"
    assert provider_for_host("res.services.ai.azure.com") == "azure"


def test_foundry_says_the_old_route_is_retired_as_data() -> None:
    az = provider("azure")
    assert az.retired_route_hint == AZURE_RETIRED_ROUTE == (
        "This Azure endpoint uses the retired /models route: use https://<resource>.openai.azure.com/openai/v1")
    assert az.endpoint_example == "https://<resource>.openai.azure.com/openai/v1" and "/openai/v1" in az.start
    old = "https://res.services.ai.azure.com/models"
    assert retired_route_message(az, 404, "The Azure AI Model Inference API route has been retired.", old) \
        == AZURE_RETIRED_ROUTE
    assert retired_route_message(az, 410, "Route /models/chat/completions is deprecated", "") == AZURE_RETIRED_ROUTE
    assert retired_route_message(az, 404, "The API deployment for this resource does not exist", old) is None
    assert retired_route_message(az, 500, "retired", old) is None
    assert retired_route_message(az, 404, "retired", "https://res.openai.azure.com/openai/v1") is None
    assert retired_route_message(provider("nvidia"), 410, "/models route retired", old) is None
