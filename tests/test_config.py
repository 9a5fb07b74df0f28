"""Configuration resolution: secrets > environment > GitHub CLI, and the provider switch."""

from __future__ import annotations

from lib.config import (
    DEFAULT_TOOLS_MODEL,
    GITHUB_CATALOG_URL,
    GITHUB_ENDPOINT,
    load_settings,
    token_digest,
)


def test_defaults_point_at_github_models_not_the_dead_azure_host() -> None:
    s = load_settings(secrets={}, environ={}, gh_token=lambda: None)
    assert s.endpoint == GITHUB_ENDPOINT == "https://models.github.ai/inference"
    assert s.catalog_url == GITHUB_CATALOG_URL
    assert s.tools_model == DEFAULT_TOOLS_MODEL
    assert s.vision_model == "meta/Llama-3.2-90B-Vision-Instruct"
    assert s.needs_token and not s.can_send
    assert s.token_source == "none"


def test_secrets_win_over_environment_which_wins_over_gh() -> None:
    env = {"GITHUB_TOKEN": "from-env", "TOOLS_MODEL": "env/model"}
    s = load_settings(secrets={"GITHUB_TOKEN": "from-secrets"}, environ=env, gh_token=lambda: "from-gh")
    assert (s.token, s.token_source) == ("from-secrets", "secrets")
    assert s.tools_model == "env/model"
    s = load_settings(secrets={}, environ=env, gh_token=lambda: "from-gh")
    assert (s.token, s.token_source) == ("from-env", "environment")
    s = load_settings(secrets={}, environ={}, gh_token=lambda: "from-gh")
    assert (s.token, s.token_source) == ("from-gh", "GitHub CLI")


def test_blank_values_are_ignored() -> None:
    s = load_settings(secrets={"GITHUB_TOKEN": "  "}, environ={"GITHUB_TOKEN": "env"}, gh_token=lambda: None)
    assert s.token == "env"


def test_local_endpoint_needs_no_token_and_has_no_catalog_unless_configured() -> None:
    called = []
    s = load_settings(environ={"MODELS_ENDPOINT": "http://localhost:11434/v1/"}, gh_token=lambda: called.append(1))
    assert s.endpoint == "http://localhost:11434/v1"
    assert s.is_local and s.can_send and s.token is None
    assert s.catalog_url is None
    assert called == []  # the GitHub CLI's token is never fetched for a local server
    s = load_settings(environ={"MODELS_ENDPOINT": "http://127.0.0.1:9/inference", "MODELS_CATALOG_URL": "http://127.0.0.1:9/c"})
    assert s.catalog_url == "http://127.0.0.1:9/c" and s.provider == "local"


def test_token_never_in_repr_and_fingerprint_is_one_way() -> None:
    s = load_settings(environ={"GITHUB_TOKEN": "ghp_secret_value"}, gh_token=lambda: None)
    assert "ghp_secret_value" not in repr(s)
    assert "ghp_secret_value" not in s.token_fingerprint
    assert s.token_fingerprint == token_digest("ghp_secret_value") != token_digest("other")


def test_provider_switch_takes_new_endpoint_and_key() -> None:
    base = load_settings(environ={"GITHUB_TOKEN": "gh-token"}, gh_token=lambda: None)
    azure = base.with_provider("azure", endpoint="https://x.services.ai.azure.com/models/", token="azure-key")
    assert azure.endpoint == "https://x.services.ai.azure.com/models"
    assert azure.token == "azure-key" and azure.token_source == "sidebar"
    assert azure.catalog_url is None
    local = base.with_provider("local", endpoint="http://localhost:11434/v1", tools_model="llama3.1:8b")
    assert local.token is None, "a GitHub token must not be sent to some other server"
    assert local.tools_model == "llama3.1:8b" and local.vision_model == base.vision_model
    back = local.with_provider("github")
    assert back.endpoint == GITHUB_ENDPOINT and back.token == "gh-token" and back.catalog_url == GITHUB_CATALOG_URL


def test_code_interpreter_flag_and_tool_keys_are_resolved() -> None:
    s = load_settings(secrets={"BRAVE_API_KEY": "b"}, environ={"ALLOW_CODE_INTERPRETER": "1"}, gh_token=lambda: None)
    assert s.get("BRAVE_API_KEY") == "b"
    assert s.get("ALLOW_CODE_INTERPRETER") == "1"
