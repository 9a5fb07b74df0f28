"""What a provider lists: OpenAI-style `GET {base}/models`, parsed leniently, never raising to the page.

Ollama, vLLM, NVIDIA, OpenRouter and Hugging Face's router all answer `{"data": [{"id": ...}, ...]}`; OpenRouter
adds `context_length` and `architecture.input_modalities`. Each server names the context size in its own field (read
off the real servers): vLLM `max_model_len`, llama.cpp's `llama-server` `meta.n_ctx`, LiteLLM's proxy
`max_input_tokens`, OpenRouter `context_length`. `owned_by` tells vLLM ("vllm") and llama.cpp ("llamacpp") apart:
both render Meta's chat template themselves. Azure AI Foundry has no listing: the model there is the deployment
name the person gives.

The GET uses the standard library (`urllib.request`, which Streamlit's server has already loaded), not `requests`:
Home lists models on its first view, and importing `requests` there cost a fresh server ~45 ms before the page
showed. Proxies from the environment apply as with `requests`; a redirect is not followed, so the key is only ever
sent to the URL the provider table (or the person) gave.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Sequence

from lib.i18n import Msg, msg


@dataclass(frozen=True)
class ModelInfo:
    """One listed model."""

    id: str
    context_length: int | None = None
    input_modalities: tuple[str, ...] = ()
    owned_by: str = ""

    @property
    def server(self) -> str:
        """"vllm" or "llamacpp" when the listing says which server software answers ("" otherwise)."""
        owner = self.owned_by.lower()
        return owner if owner in ("vllm", "llamacpp") else ""

    @property
    def accepts_images(self) -> bool:
        """The listing says it takes images (False when the listing doesn't say)."""
        return "image" in self.input_modalities


@dataclass(frozen=True)
class CatalogResult:
    """What a listing produced: the models, or why there are none."""

    models: tuple[ModelInfo, ...] = ()
    error: str | None = None  # in English ("could not reach it"); a page shows `shown_error`
    url: str | None = None
    status: int | None = None
    error_msg: Msg | None = field(default=None, compare=False, repr=False)  # `error` for the page's language

    @property
    def shown_error(self) -> "Msg | str | None":
        """Why there is no listing, as a page shows it (`ui.i18n.say`): the `Msg` when it has one, else `error`."""
        return self.error_msg if self.error_msg is not None else self.error

    @property
    def available(self) -> bool:
        """A listing was fetched (possibly empty)."""
        return self.error is None and self.url is not None

    @property
    def ids(self) -> list[str]:
        """The listed model IDs."""
        return [m.id for m in self.models]

    def find(self, model_id: str) -> ModelInfo | None:
        """The entry with this ID, ignoring case."""
        wanted = model_id.strip().lower()
        return next((m for m in self.models if m.id.lower() == wanted), None)


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def parse_models(payload: Any) -> list[ModelInfo]:
    """`{"data": [...]}`, `{"models": [...]}` or a bare list of objects with an `id`; malformed entries are skipped."""
    if isinstance(payload, dict):
        items = payload.get("data") if isinstance(payload.get("data"), list) else payload.get("models", [])
    else:
        items = payload if isinstance(payload, list) else []
    out: list[ModelInfo] = []
    for item in items or []:
        if not isinstance(item, dict):
            continue
        mid = item.get("id") or item.get("name") or item.get("model")
        if not isinstance(mid, str) or not mid.strip():
            continue
        arch = item.get("architecture") if isinstance(item.get("architecture"), dict) else {}
        meta = item.get("meta") if isinstance(item.get("meta"), dict) else {}
        modalities = arch.get("input_modalities") or item.get("input_modalities") or ()
        out.append(ModelInfo(
            id=mid.strip(),
            context_length=_int(item.get("context_length") or item.get("max_model_len")
                                or item.get("max_input_tokens") or meta.get("n_ctx")),
            input_modalities=tuple(str(m) for m in modalities if isinstance(m, str)),
            owned_by=str(item.get("owned_by") or ""),
        ))
    return out


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A listing that answers 3xx is reported as such: the key never follows it to another address."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)  # with the environment's proxies, like requests


def fetch_models(url: str, key: str | None, timeout_s: float = 8.0) -> CatalogResult:
    """GET the listing, sending the key (to this URL only: the caller gives the provider's own URL)."""
    headers = {"Accept": "application/json", "User-Agent": "llama-herd-studio"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    try:
        with _OPENER.open(urllib.request.Request(url, headers=headers), timeout=timeout_s) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        exc.close()
        return _failed(msg("hosts.listing.http_status", status=exc.code), url, exc.code)
    except TimeoutError:
        return _failed(msg("hosts.listing.timeout"), url)
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            return _failed(msg("hosts.listing.timeout"), url)
        return _failed(msg("hosts.listing.unreachable"), url)
    except (OSError, ValueError, http.client.HTTPException):  # dropped, a malformed URL, status line or body
        return _failed(msg("hosts.listing.unreachable"), url)
    try:
        return CatalogResult(models=tuple(parse_models(json.loads(body))), url=url, status=200)
    except ValueError:
        return _failed(msg("hosts.listing.not_json"), url, 200)


def _failed(why: Msg, url: str, status: int | None = None) -> CatalogResult:
    """No listing, and why: `error` in English ("it answered HTTP 401"), `error_msg` for the page's language."""
    return CatalogResult(error=str(why), url=url, status=status, error_msg=why)


def ids(models: Sequence[ModelInfo]) -> list[str]:
    """IDs of these models."""
    return [m.id for m in models]
