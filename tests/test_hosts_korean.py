"""Hosts, picks, limits and wait lines in Korean (issue 24): the texts lib/hosts/ makes read in Korean on a Korean
page, and exactly as before in English (`str()` of each is the previous English, character for character)."""

from __future__ import annotations

import http.server
import re
import threading
from pathlib import Path
from typing import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from lib import client
from lib.hosts import providers
from lib.hosts.budget import budget_msg, budget_note
from lib.hosts.catalog import fetch_models
from lib.hosts.config import best_host, load_settings
from lib.hosts.endpoint_guard import EndpointRefused, check_url
from lib.hosts.limits import Wait, limits_for, wait_msg, wait_text
from lib.hosts.providers import (GITHUB_RETIRED, GITHUB_RETIRED_MSG, OLLAMA_NO_MLLAMA, OLLAMA_NO_MLLAMA_MSG, PROVIDERS,
                                 answered_by, answered_by_msg, pick_model, provider, retired_route_message,
                                 retired_route_msg)
from lib.i18n import catalogue, say

HANGUL = re.compile("[\uac00-\ud7a3]")
ROOT = Path(__file__).resolve().parent.parent


def korean(what: object, english: str) -> str:
    """`what` said in Korean: it has Hangul, and none of the English sentence it replaces."""
    ko = say("ko", what)
    assert HANGUL.search(ko), ko
    for sentence in re.split(r"(?<=[.;:])\s+", english):
        words = re.sub(r"`[^`]*`|“[^”]*”", "", sentence)  # model IDs and host names stay as they are
        if len(re.findall(r"\b[a-z]{3,}\b", words)) >= 3:  # a sentence of words, not a name
            assert sentence not in ko, (sentence, ko)
    return ko


# --- why a page uses its model ------------------------------------------------------------------------------------

PICKS = [  # (provider, page, listed, explicit, skipped, server version) → the English reason, as it always read
    (("openrouter", "tools", ["meta-llama/llama-3.3-70b-instruct"], None, (), None),
     "Llama 3.1 405B isn't offered by OpenRouter any more; using Llama 3.3 70B, which reads the same tool format."),
    (("nvidia", "tools", ["meta/llama-3.1-70b-instruct"], None, (), None),
     "NVIDIA API catalog retired Llama 3.1 405B (2026-04); using Llama 3.1 70B, which reads the same tool format."),
    (("custom", "tools", ["meta-llama/Llama-3.1-8B-Instruct"], None, (), None),
     "Llama 3.1 405B isn't served by your server; using Llama 3.1 8B, which reads the same tool format."),
    (("custom", "tools", ["meta-llama/Llama-3.1-405B-Instruct-FP8"], None, (), None),
     "Llama 3.1 405B, the model this page was built for."),
    (("ollama", "vision", ["llama3.2-vision:11b"], None, (), None),
     "Llama 3.2 90B Vision isn't served by Ollama; using Llama 3.2 11B Vision, the same model at a smaller size. "
     "(Llama 3.2 11B Vision needs Ollama 0.29 or older.)"),
    (("ollama", "vision", ["llama3.2-vision:11b"], None, (), "0.34.1"),
     "Ollama lists `llama3.2-vision:11b` but can't run it. " + OLLAMA_NO_MLLAMA),
    (("openrouter", "vision", ["meta-llama/llama-4-maverick"], None, ("meta-llama/llama-3.2-90b-vision-instruct",),
      None),
     "`meta-llama/llama-3.2-90b-vision-instruct` was retired or removed, so Llama 3.2 90B Vision isn't available "
     "here; using Llama 4 Maverick, the closest Llama that reads images."),
    (("openrouter", "tools", ["meta-llama/llama-4-maverick"], None, (), None),
     "No model of the documented chain is offered by OpenRouter; using Llama 4 Maverick."),
    (("nvidia", "tools", ["meta/llama-3.3-70b-instruct"], None, (), None),
     "Llama 3.3 70B is still listed by NVIDIA API catalog but was retired (2026-09), and nothing newer is listed; "
     "trying it anyway."),
    (("openrouter", "tools", ["x"], "my-model", (), None),
     "Using `my-model` as set in TOOLS_MODEL. OpenRouter does not list it, so check the name if requests fail."),
    (("azure", "tools", None, None, (), None),
     "Using the deployment `Llama-3.3-70B-Instruct`: Azure AI Foundry has no model list to check it against "
     "(Llama 3.1 405B isn't offered there). Type your own deployment name in the sidebar if it differs."),
    (("openrouter", "tools", ["meta-llama/llama-3.3-70b-instruct"], None, ("meta-llama/llama-3.3-70b-instruct",),
      None),
     "Llama 3.1 405B isn't offered by OpenRouter any more; using Llama 3.3 70B, which reads the same tool format. "
     "(It was refused a moment ago; trying it again.)"),
    (("ollama", "tools", [], None, (), None),
     "Ollama lists no Llama text model. Pull one first: `ollama pull llama3.1:8b`."),
    (("sambanova", "vision", None, None, (), None), str(provider("sambanova").vision_hint)),
    (("cloudflare", "vision", None, None, (), None), str(provider("cloudflare").vision_hint)),
    (("nvidia", "tools", None, None, ("meta/llama-3.1-70b-instruct", "meta/llama-3.1-8b-instruct"), None),
     "Every known tools model of NVIDIA API catalog was retired or refused; set one by name."),
]


@pytest.mark.parametrize("case, english", PICKS, ids=[f"{c[0]}-{c[1]}-{i}" for i, (c, _) in enumerate(PICKS)])
def test_why_a_page_uses_its_model_reads_in_korean_and_as_before_in_english(case: tuple, english: str) -> None:
    pid, page, listed, explicit, skipped, version = case
    pick = pick_model(provider(pid), page, listed, explicit, skipped, server_version=version)
    assert pick.reason == english == str(pick.shown_reason)
    korean(pick.shown_reason, english)


def test_a_korean_reason_keeps_model_ids_and_says_the_server_in_korean() -> None:
    pick = pick_model(provider("custom"), "tools", ["meta-llama/Llama-3.1-8B-Instruct"])
    ko = say("ko", pick.shown_reason)
    assert "직접 운영하는 서버" in ko and "Llama 3.1 8B" in ko and "Llama 3.1 405B" in ko
    assert "your server" not in ko
    requires = say("ko", pick_model(provider("ollama"), "vision", ["llama3.2-vision:11b"]).shown_reason)
    assert "Ollama 0.29 이하" in requires and "needs Ollama" not in requires


def test_no_host_and_no_model_are_said_in_korean() -> None:
    settings = load_settings({}, {}, probe=lambda url: False)
    _, pick = best_host([settings], "tools", lambda s: None)
    assert pick.reason == "No provider configured."
    korean(pick.shown_reason, pick.reason)
    assert say("ko", pick.label_msg) == "모델 없음" and pick.label == "no model"
    assert str(settings.label_msg) == settings.label == "no provider" and say("ko", settings.label_msg) == "제공자 없음"


# --- the providers table, labels and free-tier notes ---------------------------------------------------------------

FIELDS = ("label", "short", "free_tier", "exact_tools", "exact_vision", "tools_hint", "vision_hint",
          "retired_route_hint")


def test_every_catalogued_provider_text_is_the_tables_own_english() -> None:
    """A text changed in the table but not in lib/i18n/en/hosts.toml would show the old words: caught here."""
    keys = [k for k in catalogue("en") if k.startswith("hosts.provider.")]
    assert len(keys) >= 40
    for key in keys:
        _, _, pid, name = key.split(".")
        p = provider(pid)
        english = {"limits_note": p.limits.note, "paid_note": p.limits.paid_note, "subject": p.subject}.get(name)
        assert catalogue("en")[key] == (english if english is not None else getattr(p, name)), key


@pytest.mark.parametrize("p", PROVIDERS, ids=lambda p: p.id)
def test_each_providers_table_row_and_notes_read_in_korean(p: providers.Provider) -> None:
    for name in FIELDS:
        value = getattr(p, name)
        shown = p.said(name)
        assert str(shown) == value
        if value and re.search(r"\b(?:no|yes|free|paid|only|your|unknown|listed|on)\b", value):
            korean(shown, value)  # words, not a name: Korean
    assert str(p.limits.shown_note) == p.limits.note
    if p.limits.note:
        korean(p.limits.shown_note, p.limits.note)
    paid = p.limits.for_model("some-paid-model")
    assert str(paid.shown_note) == paid.note
    korean(paid.shown_note, paid.note)


def test_the_description_labels_read_in_korean_and_names_stay_names() -> None:
    assert say("ko", provider("ollama").label_msg) == "Ollama (이 컴퓨터에서 실행)"
    assert say("ko", provider("custom").label_msg) == "vLLM 또는 직접 운영하는 서버"
    assert str(provider("custom").label_msg) == "vLLM or another server you run"
    assert say("ko", provider("custom").noun_msg) == say("ko", provider("custom").subject_msg) == "직접 운영하는 서버"
    assert str(provider("custom").subject_msg) == "Your server"
    assert provider("openrouter").label_msg == "OpenRouter" and say("ko", provider("nvidia").label_msg) == \
        "NVIDIA API catalog"


def test_an_operators_own_limits_note_reads_in_korean() -> None:
    both = limits_for(provider("openrouter"), "m", environ={"OPENROUTER_REQUESTS_PER_MINUTE": "60",
                                                            "OPENROUTER_REQUESTS_PER_DAY": "1000"})
    assert both.note == str(both.shown_note) == "set for this server: 60 a minute, 1000 a day"
    assert korean(both.shown_note, both.note) == "이 서버에 설정됨: 분당 60회, 하루 1000회"
    minute = limits_for(provider("nvidia"), "m", environ={"NVIDIA_REQUESTS_PER_MINUTE": "3"})
    assert minute.note == "set for this server: 3 a minute" and "분당 3회" in say("ko", minute.shown_note)


# --- why this host, why no listing, why not that address -----------------------------------------------------------

@pytest.mark.parametrize("secrets, environ, english", [
    ({}, {"OPENROUTER_API_KEY": "sk-or-real"}, "found OPENROUTER_API_KEY in the environment"),
    ({"NVIDIA_API_KEY": "nvapi-real"}, {}, "found NVIDIA_API_KEY in .streamlit/secrets.toml"),
    ({"MODELS_PROVIDER": "nvidia"}, {}, "MODELS_PROVIDER=nvidia in .streamlit/secrets.toml"),
    ({}, {"MODELS_ENDPOINT": "http://box:8000/v1"}, "MODELS_ENDPOINT is set in the environment"),
    ({}, {}, "no provider key found and Ollama is not running"),
    ({}, {"GITHUB_TOKEN": "ghp_x1"}, GITHUB_RETIRED),
])
def test_why_this_host_reads_in_korean(secrets: dict, environ: dict, english: str) -> None:
    s = load_settings(secrets, environ, probe=lambda url: False)
    assert s.reason == english == str(s.shown_reason)
    korean(s.shown_reason, english)


def test_the_other_hosts_and_a_sidebar_switch_say_why_in_korean() -> None:
    s = load_settings({}, {"NVIDIA_API_KEY": "nvapi-a", "OPENROUTER_API_KEY": "sk-or-b", "TOOLS_PROVIDER": "nvidia",
                           "OLLAMA_HOST": "127.0.0.1:9"}, probe=lambda url: True)
    others = {h.provider_id: h for h in s.hosts(lambda url: True)}
    assert others["openrouter"].reason == "its key is set as well"
    assert others["ollama"].reason == "Ollama answered at http://127.0.0.1:9/v1"
    assert "응답" in korean(others["ollama"].shown_reason, others["ollama"].reason)
    korean(others["openrouter"].shown_reason, "its key is set as well")
    switched = s.with_provider("huggingface")
    assert switched.reason == "chosen in the sidebar" and korean(switched.shown_reason, switched.reason) == \
        "사이드바에서 고름"
    pinned = load_settings({}, {"OPENROUTER_API_KEY": "k", "NVIDIA_API_KEY": "n", "VISION_PROVIDER": "openrouter"},
                           probe=lambda url: False).pinned("vision")
    assert pinned is not None and pinned.reason == "VISION_PROVIDER=openrouter"
    assert HANGUL.search(say("ko", pinned.shown_reason))


class _Answers(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = b"not json" if self.path.endswith("/plain/models") else b"{}"
        self.send_response(200 if self.path.endswith("/plain/models") else 401)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def answers() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_why_a_model_listing_failed_reads_in_korean(answers: str) -> None:
    refused = fetch_models(f"{answers}/v1/models", None)
    assert refused.error == str(refused.shown_error) == "it answered HTTP 401" and refused.status == 401
    assert korean(refused.shown_error, refused.error) == "HTTP 401 응답"
    plain = fetch_models(f"{answers}/plain/models", None)
    assert plain.error == "it did not answer JSON"
    korean(plain.shown_error, plain.error)
    down = fetch_models("http://127.0.0.1:9/v1/models", None, timeout_s=2)
    assert down.error == "could not reach it" and korean(down.shown_error, down.error) == "연결할 수 없음"


@pytest.mark.parametrize("url, allow_private, english", [
    ("file:///etc/passwd", True, "Only http:// and https:// addresses can be used."),
    ("http://user:pw@example.com/v1", True, "A key goes in the key field, not in the address."),
    ("http://169.254.169.254/", True, "Cloud metadata addresses can't be used."),
    ("http://10.0.0.5:8000/v1", False, "This server doesn't send requests to private or local addresses typed here "
                                       "(the operator can allow it: ALLOW_PRIVATE_ENDPOINTS=1)."),
    ("http://exa mple.com", True, "That is not a web address."),
    ("http://[fe80::1]/", True, "Link-local addresses can't be used."),
])
def test_why_a_typed_address_is_refused_reads_in_korean(url: str, allow_private: bool, english: str) -> None:
    with pytest.raises(EndpointRefused) as refused:
        check_url(url, allow_private=allow_private)
    assert str(refused.value) == english
    korean(refused.value.msg, english)


def test_an_unknown_host_keeps_its_name_in_korean() -> None:
    def nowhere(host: str, port: int) -> list[str]:
        raise OSError("no such host")

    with pytest.raises(EndpointRefused) as refused:
        check_url("https://no-such-host.example/v1", allow_private=False, resolve=nowhere)
    assert str(refused.value) == "Can't find the host “no-such-host.example”."
    assert say("ko", refused.value.msg) == "“no-such-host.example” 호스트를 찾을 수 없습니다."


# --- waiting, budgets, who answered, retirements -------------------------------------------------------------------

def test_the_wait_lines_read_in_korean_with_the_place_in_line() -> None:
    assert wait_text(2) == str(wait_msg(2)) == "Waiting for a free slot (2nd in line)…"
    assert korean(wait_msg(2), wait_text(2)) == "빈 자리를 기다리는 중입니다 (2번째로 대기 중)…"
    minute = Wait(1, 12.2, 20)
    assert wait_text(minute) == "Waiting 13 s: at most 20 requests a minute here (1st in line)…"
    ko = korean(wait_msg(minute), wait_text(minute))
    assert "13초" in ko and "분당 최대 20회" in ko and "1번째" in ko
    moment = Wait(3, None, 3)
    assert wait_text(moment) == "Waiting a moment: at most 3 requests a minute here (3rd in line)…"
    assert "잠시" in korean(wait_msg(moment), wait_text(moment))
    assert wait_text(Wait(61, 61.0, 3)).startswith("Waiting 61 s:")  # whole seconds, as the English always said


def test_the_left_out_turns_note_reads_in_korean() -> None:
    assert budget_note(2, 8000) == "2 earlier turns were left out to fit Llama's 8k input."
    assert budget_note(1, 4096, "Llama 3.3 70B") == "1 earlier turn was left out to fit Llama 3.3 70B's 4k input."
    ko = budget_note(2, 8000, lang="ko")
    assert ko == korean(budget_msg(2, 8000), budget_note(2, 8000)) and "이전 턴 2개" in ko and "8k" in ko
    assert budget_note(0, 8000, lang="ko") == "" and budget_msg(0, 8000) is None


@pytest.mark.parametrize("model, served, host", [
    ("llama3.1:8b", "", "Ollama"), ("meta-llama/Llama-3.1-405B-Instruct", "llama-3.1-8b-q4", "LiteLLM"),
    ("llama3.1:8b", "", ""), ("", "", "OpenRouter"), ("llama3.1:8b", "", "no provider"),
])
def test_who_answered_reads_in_korean(model: str, served: str, host: str) -> None:
    m = answered_by_msg(model, served, host)
    assert str(m) == answered_by(model, served, host)
    ko = say("ko", m)
    assert " on " not in ko and "asked for" not in ko
    if host and host != "no provider":
        assert ko.startswith(f"{host}의 ")
    if served:
        assert "(요청한 모델: Llama 3.1 405B)" in ko


def test_a_korean_answer_footer_names_a_described_provider_in_korean() -> None:
    assert say("ko", answered_by_msg("llama3.1:8b", "", provider("ollama").label_msg)) == \
        "Ollama (이 컴퓨터에서 실행)의 Llama 3.1 8B"


def test_retirements_and_ollamas_missing_vision_read_in_korean() -> None:
    assert str(GITHUB_RETIRED_MSG) == GITHUB_RETIRED and "30 July 2026" in GITHUB_RETIRED
    assert "2026년 7월 30일" in korean(GITHUB_RETIRED_MSG, GITHUB_RETIRED)
    assert str(OLLAMA_NO_MLLAMA_MSG) == OLLAMA_NO_MLLAMA
    korean(OLLAMA_NO_MLLAMA_MSG, OLLAMA_NO_MLLAMA)
    azure = provider("azure")
    said = retired_route_msg(azure, 404, "The /models route is retired.", "https://r.services.ai.azure.com/models")
    assert str(said) == retired_route_message(azure, 404, "The /models route is retired.") == \
        "This Azure endpoint uses the retired /models route: use https://<resource>.openai.azure.com/openai/v1"
    assert "https://<resource>.openai.azure.com/openai/v1" in korean(said, str(said))
    assert retired_route_msg(provider("openrouter"), 404, "retired /models") is None


# --- on the page --------------------------------------------------------------------------------------------------

@pytest.fixture
def no_ollama(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in ("GITHUB_TOKEN", "MODELS_PROVIDER", "MODELS_ENDPOINT", "MODELS_API_KEY", "NVIDIA_API_KEY",
                "OPENROUTER_API_KEY", "HF_TOKEN", "TOOLS_MODEL", "VISION_MODEL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9")
    client.clear_models_cache()
    yield


def test_korean_home_says_its_server_why_and_why_the_list_failed_in_korean(no_ollama: None) -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.secrets["MODELS_PROVIDER"] = "custom"
    at.secrets["MODELS_ENDPOINT"] = "http://127.0.0.1:9/v1"  # nothing answers there
    at.session_state["lang"] = "ko"
    at.session_state["home_connection"] = True  # the connection details box, opened
    at.run()
    assert not at.exception, at.exception
    sidebar = " ".join(m.value for m in at.sidebar.markdown)
    assert "**vLLM 또는 직접 운영하는 서버**" in sidebar and "vLLM or another server you run" not in sidebar
    page = " ".join(m.value for m in at.main.markdown)
    assert "**제공자:** vLLM 또는 직접 운영하는 서버 — .streamlit/secrets.toml에 설정된 MODELS_PROVIDER=custom" in page
    assert "직접 운영하는 서버의 모델 목록을 읽지 못했습니다 (연결할 수 없음)" in page, page
    for english in ("could not reach", "MODELS_PROVIDER=custom in", "another server you run", "your server"):
        assert english not in page + sidebar
