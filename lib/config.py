"""Settings: every configuration key resolved once, from secrets > environment > GitHub CLI.

No Streamlit import here: the caller passes `st.secrets` (or any mapping) in. The token is kept out of
`repr()` so it can never end up in a log line or on a page by accident.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import os
import shutil
import subprocess
from dataclasses import dataclass, field, replace
from typing import Callable, Mapping
from urllib.parse import urlparse

GITHUB_ENDPOINT = "https://models.github.ai/inference"
GITHUB_CATALOG_URL = "https://models.github.ai/catalog/models"
DEFAULT_TOOLS_MODEL = "meta/Meta-Llama-3.1-405B-Instruct"
DEFAULT_VISION_MODEL = "meta/Llama-3.2-90B-Vision-Instruct"
TOKEN_HELP_URL = (
    "https://docs.github.com/en/github-models/use-github-models/prototyping-with-ai-models"
)
NEW_TOKEN_URL = "https://github.com/settings/personal-access-tokens/new"

PROVIDERS: dict[str, str] = {
    "github": "GitHub Models",
    "azure": "Azure AI Foundry / Azure AI inference",
    "local": "Local OpenAI-compatible server",
}

# Every key a user may set (README documents them; tests rely on the names).
KEYS = (
    "GITHUB_TOKEN",
    "MODELS_ENDPOINT",
    "MODELS_CATALOG_URL",
    "TOOLS_MODEL",
    "VISION_MODEL",
    "BRAVE_API_KEY",
    "BRAVE_SEARCH_URL",
    "WOLFRAM_ALPHA_APP_ID",
    "WOLFRAM_ALPHA_URL",
    "OPEN_METEO_GEOCODING_URL",
    "OPEN_METEO_FORECAST_URL",
    "WIKIPEDIA_SEARCH_URL",
    "ALLOW_CODE_INTERPRETER",
    "REQUEST_TIMEOUT_S",
    "TOOL_TIMEOUT_S",
)


def is_truthy(value: str | None) -> bool:
    """True for "1", "true", "yes", "on" (any case)."""
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def is_local_url(url: str) -> bool:
    """True when the URL's host is this machine (localhost or a loopback address)."""
    host = (urlparse(url).hostname or "").lower()
    if host in {"localhost", "localhost.localdomain"} or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_github_endpoint(url: str) -> bool:
    """True for GitHub Models' inference host."""
    return (urlparse(url).hostname or "").lower() == "models.github.ai"


def token_digest(token: str | None) -> str:
    """A short one-way fingerprint of the token: safe to use as a cache key, never reversible."""
    if not token:
        return "none"
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def gh_cli_token() -> str | None:
    """The GitHub CLI's token (`gh auth token`) when gh is installed and logged in, else None."""
    gh = shutil.which("gh")
    if not gh:
        return None
    try:
        out = subprocess.run(
            [gh, "auth", "token"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    token = out.stdout.strip()
    return token if out.returncode == 0 and token else None


@dataclass(frozen=True)
class Settings:
    """The resolved configuration of one session (the sidebar may override a copy of it)."""

    endpoint: str = GITHUB_ENDPOINT
    token: str | None = field(default=None, repr=False)
    token_source: str = "none"  # "secrets" | "environment" | "GitHub CLI" | "sidebar" | "none"
    catalog_url: str | None = GITHUB_CATALOG_URL
    tools_model: str = DEFAULT_TOOLS_MODEL
    vision_model: str = DEFAULT_VISION_MODEL
    provider: str = "github"
    timeout_s: float = 120.0
    values: Mapping[str, str] = field(default_factory=dict, repr=False)  # every key found, for tools

    @property
    def is_local(self) -> bool:
        """The endpoint is on this machine (no token needed)."""
        return is_local_url(self.endpoint)

    @property
    def needs_token(self) -> bool:
        """A request cannot be sent: no token and the endpoint is not local."""
        return not self.token and not self.is_local

    @property
    def can_send(self) -> bool:
        """Whether pages may enable their send buttons."""
        return not self.needs_token

    @property
    def token_fingerprint(self) -> str:
        """See `token_digest`."""
        return token_digest(self.token)

    def get(self, key: str) -> str | None:
        """Any raw key (tool keys and URLs), already resolved secrets > environment."""
        return self.values.get(key)

    def with_provider(
        self,
        provider: str,
        endpoint: str | None = None,
        token: str | None = None,
        tools_model: str | None = None,
        vision_model: str | None = None,
        gh_token: Callable[[], str | None] | None = None,
    ) -> "Settings":
        """A copy pointed at another provider (the sidebar's switch). Blank fields keep what was configured."""
        if provider == "github":
            new_endpoint = self.endpoint if is_github_endpoint(self.endpoint) else GITHUB_ENDPOINT
        else:
            new_endpoint = (endpoint or "").strip().rstrip("/") or self.endpoint
        same = new_endpoint == self.endpoint
        if token:
            new_token, source = token, "sidebar"
        elif same:
            new_token, source = self.token, self.token_source
        elif provider == "github":
            # Back to GitHub from a local server: the configured GitHub token, else the GitHub CLI's.
            if self.values.get("GITHUB_TOKEN"):
                new_token, source = self.values["GITHUB_TOKEN"], "configured"
            else:
                new_token = (gh_token or gh_cli_token)()
                source = "GitHub CLI" if new_token else "none"
        elif provider == "azure":
            new_token, source = self.token, self.token_source
        else:
            new_token, source = None, "none"  # never send a GitHub token to some other local server
        if same:
            catalog = self.catalog_url
        else:
            catalog = GITHUB_CATALOG_URL if provider == "github" else None
        return replace(
            self,
            provider=provider,
            endpoint=new_endpoint,
            catalog_url=catalog,
            token=new_token,
            token_source=source,
            tools_model=(tools_model or "").strip() or self.tools_model,
            vision_model=(vision_model or "").strip() or self.vision_model,
        )


def _provider_for(endpoint: str) -> str:
    if is_github_endpoint(endpoint):
        return "github"
    if is_local_url(endpoint):
        return "local"
    return "azure"


def load_settings(
    secrets: Mapping[str, object] | None = None,
    environ: Mapping[str, str] | None = None,
    gh_token: Callable[[], str | None] = gh_cli_token,
) -> Settings:
    """Resolve every key: `secrets` first, then `environ` (default os.environ), then `gh auth token`."""
    env = os.environ if environ is None else environ
    secrets = secrets or {}
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    for key in KEYS:
        raw = secrets.get(key)
        if raw is not None and str(raw).strip():
            values[key], sources[key] = str(raw).strip(), "secrets"
        elif (env.get(key) or "").strip():
            values[key], sources[key] = env[key].strip(), "environment"

    endpoint = values.get("MODELS_ENDPOINT", GITHUB_ENDPOINT).rstrip("/")
    token = values.get("GITHUB_TOKEN")
    token_source = sources.get("GITHUB_TOKEN", "none")
    if not token and not is_local_url(endpoint):
        token = gh_token()
        token_source = "GitHub CLI" if token else "none"

    catalog = values.get("MODELS_CATALOG_URL")
    if catalog is None and is_github_endpoint(endpoint):
        catalog = GITHUB_CATALOG_URL
    try:
        timeout = float(values.get("REQUEST_TIMEOUT_S", "120"))
    except ValueError:
        timeout = 120.0
    return Settings(
        endpoint=endpoint,
        token=token,
        token_source=token_source,
        catalog_url=catalog,
        tools_model=values.get("TOOLS_MODEL", DEFAULT_TOOLS_MODEL),
        vision_model=values.get("VISION_MODEL", DEFAULT_VISION_MODEL),
        provider=_provider_for(endpoint),
        timeout_s=max(1.0, timeout),
        values=values,
    )
