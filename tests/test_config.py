"""Configuration: which provider a session starts on and why, and that a key only goes with its own provider."""

from __future__ import annotations

from lib.common import redact
from lib.hosts.config import is_placeholder, load_settings, ollama_base_url, probe_ollama, token_digest
from lib.hosts.providers import GITHUB_RETIRED
from tests.api_double import ApiDouble

NO_OLLAMA = {"probe": lambda url: False}


def test_nothing_configured_and_no_ollama_is_the_setup_page_not_a_dead_default() -> None:
    s = load_settings(secrets={}, environ={}, **NO_OLLAMA)
    assert s.provider is None and s.endpoint == "" and not s.can_send
    assert "github" not in s.endpoint
    assert "Ollama is not running" in s.reason


def test_only_a_github_token_is_told_the_truth_and_sends_nowhere() -> None:
    s = load_settings(environ={"GITHUB_TOKEN": "ghp_abcdefgh12345678"}, **NO_OLLAMA)
    assert s.provider is None and not s.can_send and s.github_retired
    assert s.reason == GITHUB_RETIRED and "30 July 2026" in s.reason
    assert s.token is None  # the GitHub token is never anyone's key


def test_a_github_models_endpoint_is_never_used() -> None:
    s = load_settings(environ={"MODELS_ENDPOINT": "https://models.github.ai/inference",
                               "OPENROUTER_API_KEY": "sk-or-v1-abc12345678"}, **NO_OLLAMA)
    assert s.github_retired
    assert s.provider_id == "openrouter" and s.endpoint == "https://openrouter.ai/api/v1"


def test_resolution_order_explicit_then_first_key_then_ollama() -> None:
    env = {"OPENROUTER_API_KEY": "sk-or-v1-aaaaaaaa", "HF_TOKEN": "hf_bbbbbbbbbb"}
    s = load_settings(environ=env, probe=lambda url: True)
    assert s.provider_id == "openrouter"  # a key beats Ollama; OpenRouter comes before Hugging Face
    assert s.reason == "found OPENROUTER_API_KEY in the environment"
    s = load_settings(environ={**env, "MODELS_PROVIDER": "huggingface"}, **NO_OLLAMA)
    assert s.provider_id == "huggingface" and s.token == "hf_bbbbbbbbbb" and s.key_name == "HF_TOKEN"
    assert "MODELS_PROVIDER=huggingface" in s.reason
    s = load_settings(environ={}, probe=lambda url: True)
    assert s.provider_id == "ollama" and s.endpoint == "http://127.0.0.1:11434/v1" and s.can_send
    assert s.reason.startswith("Ollama answered at")


def test_secrets_win_over_the_environment_and_say_where_the_key_was() -> None:
    s = load_settings(secrets={"NVIDIA_API_KEY": "nvapi-from-secrets"},
                      environ={"NVIDIA_API_KEY": "nvapi-from-env"}, **NO_OLLAMA)
    assert (s.token, s.token_source) == ("nvapi-from-secrets", "secrets")
    assert s.reason == "found NVIDIA_API_KEY in .streamlit/secrets.toml"


def test_placeholder_keys_count_as_missing() -> None:
    for value in ("nvapi-...", "sk-or-…", "<your key>", "changeme", "xxxx"):
        assert is_placeholder(value), value
    assert not is_placeholder("nvapi-Zx81kq")
    s = load_settings(environ={"NVIDIA_API_KEY": "nvapi-..."}, **NO_OLLAMA)
    assert s.provider is None and s.placeholder_keys == ("NVIDIA_API_KEY",)
    s = load_settings(environ={"MODELS_PROVIDER": "nvidia", "NVIDIA_API_KEY": "nvapi-..."}, **NO_OLLAMA)
    assert s.provider_id == "nvidia" and s.needs_token and not s.can_send and s.token is None


def test_endpoint_alone_names_the_provider_by_host_else_custom() -> None:
    s = load_settings(environ={"MODELS_ENDPOINT": "https://integrate.api.nvidia.com/v1",
                               "NVIDIA_API_KEY": "nvapi-real-1234"}, **NO_OLLAMA)
    assert s.provider_id == "nvidia" and s.token == "nvapi-real-1234"
    s = load_settings(environ={"MODELS_ENDPOINT": "http://gpu-box:8000/v1", "NVIDIA_API_KEY": "nvapi-real-1234"},
                      **NO_OLLAMA)
    assert s.provider_id == "custom" and s.endpoint == "http://gpu-box:8000/v1"
    assert s.token is None, "the NVIDIA key must not go to some other server"
    assert s.can_send  # a custom server needs no key unless one was given for it
    s = load_settings(environ={"MODELS_ENDPOINT": "http://gpu-box:8000/v1", "MODELS_API_KEY": "local-secret"},
                      **NO_OLLAMA)
    assert s.token == "local-secret" and s.key_name == "MODELS_API_KEY"


def test_azure_uses_the_sdk_sample_names_and_needs_both() -> None:
    s = load_settings(environ={"AZURE_AI_CHAT_KEY": "azkey-1234567"}, **NO_OLLAMA)
    assert s.provider_id == "azure" and s.needs_endpoint and not s.can_send
    s = load_settings(environ={"AZURE_AI_CHAT_KEY": "azkey-1234567",
                               "AZURE_AI_CHAT_ENDPOINT": "https://res.services.ai.azure.com/models/"}, **NO_OLLAMA)
    # The /models route was retired (2026-08-26): what was pasted is used in its OpenAI v1 form.
    assert s.endpoint == "https://res.services.ai.azure.com/openai/v1" and s.can_send
    assert s.models_url is None  # Foundry: the model is your deployment name


def test_ollama_host_forms() -> None:
    assert ollama_base_url(None) == "http://127.0.0.1:11434/v1"
    assert ollama_base_url("0.0.0.0:11434") == "http://127.0.0.1:11434/v1"
    assert ollama_base_url("http://gpu-box:11500/") == "http://gpu-box:11500/v1"
    s = load_settings(environ={"MODELS_PROVIDER": "ollama", "OLLAMA_HOST": "box:1234"}, **NO_OLLAMA)
    assert s.endpoint == "http://box:1234/v1" and s.token is None and s.can_send


def test_ollama_probe_answers_within_half_a_second_either_way() -> None:
    with ApiDouble(preset="ollama") as d:
        assert probe_ollama(d.url + "/v1")
    assert not probe_ollama("http://127.0.0.1:9/v1", ttl_s=0)


def test_switching_provider_never_carries_a_key_across() -> None:
    base = load_settings(environ={"OPENROUTER_API_KEY": "sk-or-v1-secret-1", "NVIDIA_API_KEY": "nvapi-secret-2",
                                  "MODELS_PROVIDER": "openrouter"}, **NO_OLLAMA)
    assert base.provider_id == "openrouter" and base.token == "sk-or-v1-secret-1"
    nv = base.with_provider("nvidia")
    assert nv.token == "nvapi-secret-2" and nv.endpoint == "https://integrate.api.nvidia.com/v1"
    hf = base.with_provider("huggingface")
    assert hf.token is None and hf.needs_token and not hf.can_send  # blank key: sends nothing, asks for it
    local = base.with_provider("custom", endpoint="http://127.0.0.1:8000/v1")
    assert local.token is None and local.can_send
    typed = base.with_provider("huggingface", token="hf_typedtoken123")
    assert typed.token == "hf_typedtoken123" and typed.token_source == "sidebar"
    assert base.with_provider("custom", endpoint="http://127.0.0.1:8000/v1", token="").token is None
    az = base.with_provider("azure", endpoint="https://evil.example/models")
    assert az.token is None, "a typed Azure URL with a blank key gets no other provider's key"
    back = typed.with_provider("openrouter")
    assert back.token == "sk-or-v1-secret-1"


def test_a_gateway_keeps_its_endpoint_when_switching_back() -> None:
    base = load_settings(environ={"MODELS_PROVIDER": "openrouter", "MODELS_ENDPOINT": "https://gw.example/or/v1",
                                  "OPENROUTER_API_KEY": "sk-or-v1-secret-1"}, **NO_OLLAMA)
    assert base.endpoint == "https://gw.example/or/v1"
    assert base.with_provider("ollama").with_provider("openrouter").endpoint == "https://openrouter.ai/api/v1"
    assert base.with_provider("openrouter").endpoint == "https://gw.example/or/v1"


def test_keys_stay_out_of_repr_and_are_registered_for_redaction() -> None:
    s = load_settings(environ={"OPENROUTER_API_KEY": "sk-or-v1-verysecret99", "BRAVE_API_KEY": "brave-secret-7"},
                      **NO_OLLAMA)
    assert "verysecret" not in repr(s)
    assert redact.redact("echo sk-or-v1-verysecret99 and brave-secret-7") == "echo [redacted] and [redacted]"
    assert token_digest("abc") == token_digest("abc") != token_digest("abd")
    assert "abc" not in token_digest("abc")


def test_tool_keys_and_flags_are_still_read() -> None:
    s = load_settings(secrets={"BRAVE_API_KEY": "b"}, environ={"ALLOW_CODE_INTERPRETER": "1"}, **NO_OLLAMA)
    assert s.get("BRAVE_API_KEY") == "b" and s.get("ALLOW_CODE_INTERPRETER") == "1"


def test_a_url_typed_in_the_sidebar_gets_no_configured_key() -> None:
    base = load_settings(environ={"NVIDIA_API_KEY": "nvapi-secret-2", "AZURE_AI_CHAT_KEY": "az-secret-3",
                                  "AZURE_AI_CHAT_ENDPOINT": "https://res.services.ai.azure.com/models",
                                  "MODELS_PROVIDER": "custom", "MODELS_ENDPOINT": "http://127.0.0.1:8000/v1",
                                  "MODELS_API_KEY": "local-secret-4"}, **NO_OLLAMA)
    assert base.token == "local-secret-4"
    gateway = base.with_provider("nvidia", endpoint="https://gateway.example/nv/v1")
    assert gateway.endpoint == "https://gateway.example/nv/v1" and gateway.token is None and gateway.needs_token
    typed = base.with_provider("nvidia", endpoint="https://gateway.example/nv/v1", token="nvapi-typed-5")
    assert typed.token == "nvapi-typed-5"
    other_server = base.with_provider("custom", endpoint="http://127.0.0.1:9000/v1")
    assert other_server.token is None, "MODELS_API_KEY was given for MODELS_ENDPOINT only"
    assert base.with_provider("azure").token == "az-secret-3"
    assert base.with_provider("azure", endpoint="https://other.services.ai.azure.com/models").token is None


def test_each_provider_base_url_can_be_overridden_on_its_own_and_keys_stay_bound() -> None:
    env = {"NVIDIA_API_KEY": "nvapi-real-key-123456", "OPENROUTER_API_KEY": "sk-or-real-key-123456",
           "NVIDIA_BASE_URL": "http://127.0.0.1:8001/nvidia/v1/", "OPENROUTER_BASE_URL": "http://127.0.0.1:8001/or/v1"}
    s = load_settings(environ=env, **NO_OLLAMA)
    assert (s.provider_id, s.endpoint, s.token) == ("nvidia", "http://127.0.0.1:8001/nvidia/v1", "nvapi-real-key-123456")
    hosts = {h.provider_id: h for h in s.hosts(probe=lambda url: False)}
    assert set(hosts) == {"nvidia", "openrouter"}
    assert (hosts["openrouter"].endpoint, hosts["openrouter"].token) == ("http://127.0.0.1:8001/or/v1",
                                                                         "sk-or-real-key-123456")
    assert hosts["nvidia"].token == "nvapi-real-key-123456"  # each key with its own host only


def test_one_configured_host_is_the_only_host() -> None:
    s = load_settings(environ={"OPENROUTER_API_KEY": "sk-or-real-key-123456"}, **NO_OLLAMA)
    assert [h.provider_id for h in s.hosts(probe=lambda url: False)] == ["openrouter"]
    assert s.pinned("tools") is None


def test_a_running_ollama_is_a_host_too_and_a_page_can_be_pinned() -> None:
    env = {"NVIDIA_API_KEY": "nvapi-real-key-123456", "TOOLS_PROVIDER": "ollama"}
    s = load_settings(environ=env, **NO_OLLAMA)
    assert [h.provider_id for h in s.hosts(probe=lambda url: True)] == ["nvidia", "ollama"]
    pinned = s.pinned("tools")
    assert pinned is not None and pinned.provider_id == "ollama" and pinned.token is None
    assert s.pinned("vision") is None
    assert load_settings(environ={**env, "TOOLS_PROVIDER": "nope"}, **NO_OLLAMA).pinned("tools") is None


def test_the_best_host_for_each_page_is_the_best_model_across_hosts() -> None:
    from lib.hosts.config import best_host

    env = {"NVIDIA_API_KEY": "nvapi-real-key-123456", "OPENROUTER_API_KEY": "sk-or-real-key-123456"}
    s = load_settings(environ=env, **NO_OLLAMA)
    listings = {"nvidia": ["meta/llama-3.2-90b-vision-instruct", "meta/llama-3.2-11b-vision-instruct"],
                "openrouter": ["meta-llama/llama-3.3-70b-instruct", "meta-llama/llama-3.2-11b-vision-instruct"]}
    hosts = s.hosts(probe=lambda url: False)
    vision, vpick = best_host(hosts, "vision", lambda h: listings[h.provider_id])
    tools, tpick = best_host(hosts, "tools", lambda h: listings[h.provider_id])
    assert (vision.provider_id, vpick.model) == ("nvidia", "meta/llama-3.2-90b-vision-instruct")
    assert (tools.provider_id, tpick.model) == ("openrouter", "meta-llama/llama-3.3-70b-instruct")
    # A tie goes to the configured host (the first).
    same = {"nvidia": ["meta/llama-3.2-11b-vision-instruct"], "openrouter": ["meta-llama/llama-3.2-11b-vision-instruct"]}
    assert best_host(hosts, "vision", lambda h: same[h.provider_id])[0].provider_id == "nvidia"


NEW_HOST_KEYS = {"SAMBANOVA_API_KEY": "samba-secret-0001", "TOGETHER_API_KEY": "together-secret-0002",
                 "DEEPINFRA_API_KEY": "deepinfra-secret-0003", "CLOUDFLARE_API_TOKEN": "cf-token-secret-0004",
                 "CLOUDFLARE_ACCOUNT_ID": "0123456789abcdef0123456789abcdef"}


def test_the_new_hosts_settings_are_read_and_treated_as_secrets() -> None:
    from lib.hosts.config import KEYS, SECRET_KEYS
    from lib.hosts.providers import PROVIDERS

    for name in NEW_HOST_KEYS:
        assert name in KEYS and name in SECRET_KEYS, name
    for p in PROVIDERS:  # every setting a provider names is read, and every key is a secret
        assert set(p.setting_names) <= set(KEYS), p.id
        assert set(p.key_names) <= set(SECRET_KEYS), p.id
    s = load_settings(environ={"MODELS_PROVIDER": "sambanova", **NEW_HOST_KEYS}, **NO_OLLAMA)
    assert all(s.get(name) == value for name, value in NEW_HOST_KEYS.items())
    assert set(NEW_HOST_KEYS.values()) <= set(s.secrets())
    shown = redact.redact("keys: " + " ".join(NEW_HOST_KEYS.values()))
    assert shown == "keys: " + " ".join(["[redacted]"] * len(NEW_HOST_KEYS))
    assert not any(value in repr(s) for value in NEW_HOST_KEYS.values())


def test_new_host_keys_still_reading_like_a_placeholder_count_as_missing() -> None:
    s = load_settings(environ={"SAMBANOVA_API_KEY": "...", "CLOUDFLARE_API_TOKEN": "<your token>",
                               "CLOUDFLARE_ACCOUNT_ID": "<account id>"}, **NO_OLLAMA)
    assert s.provider is None
    assert set(s.placeholder_keys) == {"SAMBANOVA_API_KEY", "CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ACCOUNT_ID"}


def test_a_new_hosts_key_picks_it_and_goes_to_it_only() -> None:
    s = load_settings(environ={"SAMBANOVA_API_KEY": "samba-secret-0001"}, **NO_OLLAMA)
    assert s.provider_id == "sambanova" and s.endpoint == "https://api.sambanova.ai/v1" and s.can_send
    assert s.reason == "found SAMBANOVA_API_KEY in the environment"
    s = load_settings(environ={"MODELS_PROVIDER": "deepinfra", **NEW_HOST_KEYS}, **NO_OLLAMA)
    assert (s.endpoint, s.token, s.key_name) == ("https://api.deepinfra.com/v1/openai", "deepinfra-secret-0003",
                                                 "DEEPINFRA_API_KEY")
    s = load_settings(environ={"NVIDIA_API_KEY": "nvapi-real-1234", "TOGETHER_API_KEY": "together-secret-0002"},
                      **NO_OLLAMA)
    assert s.provider_id == "nvidia" and s.token == "nvapi-real-1234"  # the exact 90B Vision comes first
    together = s.with_provider("together")
    assert together.endpoint == "https://api.together.xyz/v1" and together.token == "together-secret-0002"
    s = load_settings(environ={"MODELS_ENDPOINT": "https://api.sambanova.ai/v1",
                               "SAMBANOVA_API_KEY": "samba-secret-0001"}, **NO_OLLAMA)
    assert s.provider_id == "sambanova" and s.token == "samba-secret-0001"
