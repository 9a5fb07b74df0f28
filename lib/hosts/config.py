"""Settings: which provider, endpoint and key this session uses, resolved from secrets > environment.

No Streamlit import here: the caller passes `st.secrets` (or any mapping) in. Resolution at start:
`MODELS_PROVIDER` (or `MODELS_ENDPOINT` alone) > the first provider whose key is present > Ollama when it answers
at `OLLAMA_HOST` within half a second > nothing (the setup page). A key only ever travels to the provider it was
given for, and is kept out of `repr()`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Collection, Mapping, Sequence
from urllib.parse import urlparse

from lib.common import redact
from lib.hosts.catalog import _OPENER  # no redirects followed
from lib.i18n import Msg, msg
from lib.hosts.providers import (
    CHAINS,
    GITHUB_RETIRED_MSG,
    KEYED_ORDER,
    PROVIDER_IDS,
    ModelPick,
    Provider,
    endpoint_from_setting,
    family_of,
    fill_base_url,
    missing_url_settings,
    pick_model,
    provider,
    provider_for_host,
)

DEFAULT_OLLAMA_HOST = "127.0.0.1:11434"
OLLAMA_PROBE_TIMEOUT_S = 0.5

# Every key a user may set (README documents them; tests outside the project rely on the names).
KEYS = (
    "MODELS_PROVIDER",
    "MODELS_ENDPOINT",
    "MODELS_API_KEY",
    "NVIDIA_API_KEY",
    "OPENROUTER_API_KEY",
    "HF_TOKEN",
    "SAMBANOVA_API_KEY",
    "TOGETHER_API_KEY",
    "DEEPINFRA_API_KEY",
    "CLOUDFLARE_API_TOKEN",
    "CLOUDFLARE_ACCOUNT_ID",
    "AZURE_AI_CHAT_ENDPOINT",
    "AZURE_AI_CHAT_KEY",
    "OLLAMA_HOST",
    "TOOLS_MODEL",
    "VISION_MODEL",
    "GITHUB_TOKEN",
    "BRAVE_API_KEY",
    "BRAVE_SEARCH_URL",
    "WOLFRAM_ALPHA_APP_ID",
    "WOLFRAM_ALPHA_URL",
    "OPEN_METEO_GEOCODING_URL",
    "OPEN_METEO_FORECAST_URL",
    "WIKIPEDIA_SEARCH_URL",
    "ALLOW_CODE_INTERPRETER",
    "ALLOW_TYPED_ENDPOINTS",
    "ALLOW_PRIVATE_ENDPOINTS",
    "REQUEST_TIMEOUT_S",
    "TOOL_TIMEOUT_S",
)
SECRET_KEYS = ("MODELS_API_KEY", "NVIDIA_API_KEY", "OPENROUTER_API_KEY", "HF_TOKEN", "AZURE_AI_CHAT_KEY",
               "SAMBANOVA_API_KEY", "TOGETHER_API_KEY", "DEEPINFRA_API_KEY", "CLOUDFLARE_API_TOKEN",
               "CLOUDFLARE_ACCOUNT_ID", "GITHUB_TOKEN", "BRAVE_API_KEY", "WOLFRAM_ALPHA_APP_ID")

# Pin a page to one host (else each page takes the best model across every configured host).
PAGE_PROVIDER_KEYS = {"tools": "TOOLS_PROVIDER", "vision": "VISION_PROVIDER"}


def base_url_key(provider_id: str) -> str:
    """The setting that overrides one provider's base URL: `NVIDIA_BASE_URL`, `OPENROUTER_BASE_URL`, ..."""
    return f"{provider_id.upper()}_BASE_URL"


def all_keys() -> tuple[str, ...]:
    """Every setting read: `KEYS`, the page pins and each provider's `<ID>_BASE_URL`."""
    return (*KEYS, *PAGE_PROVIDER_KEYS.values(), *(base_url_key(pid) for pid in PROVIDER_IDS))


_PLACEHOLDERS = {"changeme", "change-me", "replace-me", "your-key", "your_key", "your-key-here", "your_key_here",
                 "xxx", "xxxx", "todo", "none", "null", "key", "token", "secret", "placeholder"}


def is_truthy(value: str | None) -> bool:
    """True for "1", "true", "yes", "on" (any case)."""
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def is_placeholder(value: str | None) -> bool:
    """A value still as the example file wrote it ("nvapi-...", "<your key>", "changeme") counts as missing."""
    v = (value or "").strip()
    if not v:
        return True
    return ("..." in v or "…" in v or (v.startswith("<") and v.endswith(">"))
            or v.lower() in _PLACEHOLDERS or set(v) <= {"x", "X", "*", "-", "_"})


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
    """True for the retired GitHub Models hosts (models.github.ai, models.inference.ai.azure.com)."""
    host = (urlparse(url).hostname or "").lower()
    return host in {"models.github.ai", "models.inference.ai.azure.com"}


def token_digest(token: str | None) -> str:
    """A short one-way fingerprint of a key: safe to use as a cache key, never reversible."""
    if not token:
        return "none"
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:16]


def ollama_base_url(host: str | None) -> str:
    """Ollama's OpenAI-compatible base URL from `OLLAMA_HOST` ("0.0.0.0:11434", "http://box:11434", …)."""
    raw = (host or DEFAULT_OLLAMA_HOST).strip().rstrip("/")
    if "://" not in raw:
        raw = "http://" + raw
    parsed = urlparse(raw)
    hostname = parsed.hostname or "127.0.0.1"
    if hostname in {"0.0.0.0", "::", ""}:
        hostname = "127.0.0.1"
    port = parsed.port or 11434
    return f"{parsed.scheme or 'http'}://{hostname}:{port}/v1"


_probe_lock = threading.Lock()
_probe_cache: dict[str, tuple[float, str | None]] = {}


def ollama_version(base_url: str, timeout_s: float = OLLAMA_PROBE_TIMEOUT_S, ttl_s: float = 30.0) -> str | None:
    """The version Ollama reports at `base_url` (`GET /api/version`), or None when nothing answers there within
    `timeout_s`; remembered `ttl_s` seconds for all sessions. Standard library only: Home probes on its first
    view, and importing `requests` cost a fresh server ~45 ms."""
    import json
    import urllib.request

    now = time.monotonic()
    with _probe_lock:
        hit = _probe_cache.get(base_url)
        if hit and now - hit[0] < ttl_s:
            return hit[1]
    root = base_url[: -len("/v1")] if base_url.endswith("/v1") else base_url
    version: str | None = None
    try:
        with _OPENER.open(urllib.request.Request(root + "/api/version"), timeout=timeout_s) as response:
            body = json.loads(response.read(4096) or b"{}")
            version = str(body.get("version") or "unknown") if isinstance(body, dict) else "unknown"
    except Exception:  # noqa: BLE001 - refused, timed out, not HTTP, not JSON: no Ollama there
        version = None
    with _probe_lock:
        _probe_cache[base_url] = (now, version)
    return version


def probe_ollama(base_url: str, timeout_s: float = OLLAMA_PROBE_TIMEOUT_S, ttl_s: float = 30.0) -> bool:
    """Whether Ollama answers at `base_url` within `timeout_s` (remembered `ttl_s` seconds for all sessions)."""
    return ollama_version(base_url, timeout_s, ttl_s) is not None


def clear_probe_cache() -> None:
    """Forget Ollama probe results (tests, "Test connection")."""
    with _probe_lock:
        _probe_cache.clear()


@dataclass(frozen=True)
class Settings:
    """The resolved configuration of one session (the sidebar may switch a copy of it to another provider)."""

    provider_id: str = ""  # "" when no provider could be resolved (the setup page)
    endpoint: str = ""
    token: str | None = field(default=None, repr=False)  # the key for THIS provider only
    key_name: str | None = None  # the setting the key came from ("OPENROUTER_API_KEY")
    token_source: str = "none"  # "secrets" | "environment" | "sidebar" | "none"
    reason: str = ""  # why this provider ("found OPENROUTER_API_KEY in the environment")
    tools_model: str | None = None  # explicit TOOLS_MODEL / sidebar name, used as given
    vision_model: str | None = None
    timeout_s: float = 120.0
    github_retired: bool = False  # a GitHub token or GitHub Models endpoint was found
    placeholder_keys: tuple[str, ...] = ()  # settings still holding the example's placeholder
    values: Mapping[str, str] = field(default_factory=dict, repr=False)  # every key found, for tools
    sources: Mapping[str, str] = field(default_factory=dict, repr=False)  # key -> "secrets" | "environment"
    reason_msg: Msg | None = field(default=None, compare=False, repr=False)  # `reason` for the page's language

    @property
    def shown_reason(self) -> Msg | str:
        """Why this provider, as a page shows it (`ui.i18n.say`): the `Msg` when it was resolved here, else `reason`."""
        return self.reason_msg if self.reason_msg is not None else self.reason

    @property
    def label_msg(self) -> Msg | str:
        """`label` for a page: "Ollama (이 컴퓨터에서 실행)" in Korean; a provider's own name as it is."""
        return self.provider.label_msg if self.provider else msg("hosts.no_provider")

    @property
    def provider(self) -> Provider | None:
        """The provider entry (None when none was resolved)."""
        return provider(self.provider_id) if self.provider_id else None

    @property
    def label(self) -> str:
        """The provider's name for people."""
        return self.provider.label if self.provider else "no provider"

    @property
    def is_local(self) -> bool:
        """The endpoint is on this machine."""
        return bool(self.endpoint) and is_local_url(self.endpoint)

    @property
    def needs_token(self) -> bool:
        """The provider needs a key and none was given for it."""
        p = self.provider
        return p is not None and p.key_required and not self.token

    @property
    def needs_endpoint(self) -> bool:
        """The provider has no base URL yet (a server of your own, a Foundry resource)."""
        return self.provider is not None and not self.endpoint

    @property
    def can_send(self) -> bool:
        """Whether pages may enable their send buttons."""
        return self.provider is not None and not self.needs_token and not self.needs_endpoint

    @property
    def token_fingerprint(self) -> str:
        """See `token_digest`."""
        return token_digest(self.token)

    @property
    def models_url(self) -> str | None:
        """Where the provider lists its models (None: it doesn't; Foundry uses deployment names)."""
        p = self.provider
        return f"{self.endpoint}/models" if p is not None and p.lists_models and self.endpoint else None

    def get(self, key: str) -> str | None:
        """Any raw key (tool keys and URLs), already resolved secrets > environment."""
        return self.values.get(key)

    def secrets(self) -> list[str]:
        """Every configured secret value (for scrubbing pages, logs and exports)."""
        found = [self.values[k] for k in SECRET_KEYS if self.values.get(k)]
        if self.token:
            found.append(self.token)
        return found

    def hosts(self, probe: Callable[[str], bool] | None = None) -> list["Settings"]:
        """Every host this configuration reaches, this one first: each provider whose key is set (each with only
        its own key), and Ollama when it answers. One configured host: just this one."""
        if self.provider_id == "" or self.token_source == "sidebar":
            return [self]
        found = [self]
        for pid in KEYED_ORDER:
            if pid != self.provider_id and any(self.values.get(k) and not is_placeholder(self.values[k])
                                               for k in provider(pid).key_names):
                other = _for_provider(replace(self, token=None, key_name=None, token_source="none"), pid,
                                      self.values, self.sources, reason=msg("hosts.reason.also_keyed"))
                if other.can_send:
                    found.append(other)
        if self.provider_id != "ollama":
            url = ollama_base_url(self.values.get("OLLAMA_HOST"))
            if (probe or probe_ollama)(url):
                found.append(_for_provider(replace(self, token=None, key_name=None, token_source="none"), "ollama",
                                           self.values, self.sources,
                                           reason=msg("hosts.reason.ollama_answered", url=url)))
        return found

    def pinned(self, page: str) -> "Settings | None":
        """The host `TOOLS_PROVIDER` / `VISION_PROVIDER` pins this page to (None when not pinned or unknown)."""
        pid = (self.values.get(PAGE_PROVIDER_KEYS.get(page, "")) or "").strip().lower()
        if pid not in PROVIDER_IDS:
            return None
        if pid == self.provider_id:
            return self
        key = PAGE_PROVIDER_KEYS[page]
        return _for_provider(replace(self, token=None, key_name=None, token_source="none"), pid, self.values,
                             self.sources, reason=msg("hosts.reason.page_pinned", setting=key, provider_code=pid))

    def with_provider(
        self,
        provider_id: str,
        endpoint: str | None = None,
        token: str | None = None,
        tools_model: str | None = None,
        vision_model: str | None = None,
    ) -> "Settings":
        """A copy pointed at another provider (the sidebar's switch). Only that provider's own key goes with it."""
        typed = (endpoint or "").strip().rstrip("/") or None
        if provider_id == self.provider_id and (typed is None or typed == self.endpoint):
            resolved = self  # back to what was configured: its endpoint (a gateway, say) and key
        else:
            base = replace(self, provider_id="", endpoint="", token=None, key_name=None, token_source="none")
            resolved = _for_provider(base, provider_id, self.values, self.sources,
                                     reason=msg("hosts.reason.chosen"))
            if typed and typed != resolved.endpoint:
                # A URL typed here is not where the configured key was given for: it gets only a key typed here.
                resolved = replace(resolved, endpoint=typed, token=None, token_source="none")
        if token and not is_placeholder(token):
            p = provider(provider_id)
            resolved = replace(resolved, token=token.strip(), token_source="sidebar",
                               key_name=p.key_names[0] if p.key_names else "key")
            redact.register(token.strip())
        return replace(
            resolved,
            tools_model=(tools_model or "").strip() or self.tools_model,
            vision_model=(vision_model or "").strip() or self.vision_model,
        )


def _for_provider(
    s: Settings,
    provider_id: str,
    values: Mapping[str, str],
    sources: Mapping[str, str],
    reason: Msg | str,
    endpoint_override: str | None = None,
) -> Settings:
    """Settings for `provider_id`: its endpoint and only its own key; `reason` (a `Msg` to show it in the page's
    language) is kept in English as `reason` too."""
    p = provider(provider_id)
    if endpoint_override:
        endpoint = endpoint_override
    elif provider_id == "ollama":
        endpoint = ollama_base_url(values.get("OLLAMA_HOST"))
    elif p.endpoint_name and values.get(p.endpoint_name) and not is_github_endpoint(values[p.endpoint_name]):
        endpoint = endpoint_from_setting(p, values[p.endpoint_name])  # Foundry: the /openai/v1 form of what was pasted
    elif values.get(base_url_key(provider_id)):
        endpoint = values[base_url_key(provider_id)].rstrip("/")  # a gateway, a proxy or a test double for it
    else:
        endpoint = fill_base_url(p, values)  # Cloudflare's URL carries the account id; "" while it is missing
    key_name = next((k for k in p.key_names if values.get(k) and not is_placeholder(values[k])), None)
    token = values.get(key_name) if key_name else None
    return replace(
        s,
        provider_id=provider_id,
        endpoint=endpoint,
        token=token,
        key_name=key_name or (p.key_names[0] if p.key_names else None),
        token_source=sources.get(key_name, "none") if key_name else "none",
        reason=str(reason),
        reason_msg=reason if isinstance(reason, Msg) else None,
    )


def load_settings(
    secrets: Mapping[str, object] | None = None,
    environ: Mapping[str, str] | None = None,
    probe: Callable[[str], bool] = probe_ollama,
) -> Settings:
    """Resolve every key (`secrets` first, then `environ`, default os.environ) and pick the provider."""
    env = os.environ if environ is None else environ
    secrets = secrets or {}
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    placeholders: list[str] = []
    for key in all_keys():
        raw = secrets.get(key)
        if raw is not None and str(raw).strip():
            values[key], sources[key] = str(raw).strip(), "secrets"
        elif (env.get(key) or "").strip():
            values[key], sources[key] = env[key].strip(), "environment"
        if key in SECRET_KEYS and key in values:
            if is_placeholder(values[key]):
                placeholders.append(key)
            else:
                redact.register(values[key])

    try:
        timeout = max(1.0, float(values.get("REQUEST_TIMEOUT_S", "120")))
    except ValueError:
        timeout = 120.0
    endpoint_set = values.get("MODELS_ENDPOINT", "").rstrip("/")
    github = bool(values.get("GITHUB_TOKEN")) or (bool(endpoint_set) and is_github_endpoint(endpoint_set))
    if endpoint_set and is_github_endpoint(endpoint_set):
        endpoint_set = ""  # a dead service is never a default
    base = Settings(
        timeout_s=timeout,
        tools_model=values.get("TOOLS_MODEL"),
        vision_model=values.get("VISION_MODEL"),
        github_retired=github,
        placeholder_keys=tuple(placeholders),
        values=values,
        sources=sources,
    )

    def where(key: str) -> str:
        """Where `key` was set, as the end of a `hosts.reason.*_in_*` key: "secrets" or "environment"."""
        return "secrets" if sources.get(key) == "secrets" else "environment"

    def has_key(pid: str) -> str | None:
        if missing_url_settings(provider(pid), values):
            return None  # a key without the rest (Cloudflare's account id) cannot send: don't start there
        return next((k for k in provider(pid).key_names if values.get(k) and not is_placeholder(values[k])), None)

    chosen = values.get("MODELS_PROVIDER", "").strip().lower()
    if chosen in PROVIDER_IDS:
        return _for_provider(base, chosen, values, sources,
                             msg(f"hosts.reason.provider_in_{where('MODELS_PROVIDER')}", provider_code=chosen),
                             endpoint_override=endpoint_set or None)
    if endpoint_set:
        parsed = urlparse(endpoint_set)
        pid = provider_for_host(parsed.hostname or "", parsed.port) or "custom"
        return _for_provider(base, pid, values, sources, msg(f"hosts.reason.endpoint_in_{where('MODELS_ENDPOINT')}"),
                             endpoint_override=endpoint_set)
    for pid in KEYED_ORDER:
        key = has_key(pid)
        if key:
            return _for_provider(base, pid, values, sources, msg(f"hosts.reason.found_in_{where(key)}", key_name=key))
    ollama_url = ollama_base_url(values.get("OLLAMA_HOST"))
    if probe(ollama_url):
        return _for_provider(base, "ollama", values, sources, msg("hosts.reason.ollama_answered", url=ollama_url))
    why = GITHUB_RETIRED_MSG if github else msg("hosts.reason.nothing_found")
    return replace(base, reason=str(why), reason_msg=why)


def best_host(
    candidates: Sequence[Settings],
    page: str,
    listed: Callable[[Settings], Sequence[str] | None],
    skipped: Callable[[Settings], Collection[str]] = lambda s: (),
    version: Callable[[Settings], str | None] = lambda s: None,
) -> tuple[Settings, ModelPick]:
    """The host whose best model for `page` ranks highest in the page's fallback chain (the exact model wherever it
    is, else the closest); ties go to the earlier candidate. `listed(settings)` is that host's model listing and
    `version(settings)` its server software's version (Ollama's), for models a version cannot run."""
    chain = CHAINS[page]  # type: ignore[index]
    best: tuple[tuple[int, int, int, int], Settings, ModelPick] | None = None
    for order, s in enumerate(candidates):
        p = s.provider
        if p is None:
            continue
        explicit = s.tools_model if page == "tools" else s.vision_model
        pick = pick_model(p, page, listed(s), explicit, skipped(s), server_version=version(s))  # type: ignore[arg-type]
        fam = family_of(pick.model) if pick.model else None
        dead = bool(pick.model) and pick.model.lower() in p.retired_on  # still listed, known retired: a last resort
        rank = (0 if pick.model else 1, int(dead), chain.index(fam.key) if fam and fam.key in chain else len(chain),
                order)
        if best is None or rank < best[0]:
            best = (rank, s, pick)
    if best is None:
        none = msg("hosts.pick.no_provider")
        return candidates[0], ModelPick(None, str(none), reason_msg=none)
    return best[1], best[2]

