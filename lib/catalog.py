"""The model catalog: fetch, look up (case-insensitively), filter by capability, fall back when a model is gone."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import requests

# When the configured model is not listed, propose this one instead (keys are lower-case IDs).
FALLBACKS: dict[str, str] = {
    "meta/meta-llama-3.1-405b-instruct": "meta/Llama-3.3-70B-Instruct",
    "meta/llama-3.2-90b-vision-instruct": "meta/Llama-3.2-11B-Vision-Instruct",
}


@dataclass(frozen=True)
class ModelInfo:
    """One catalog entry (fields as GitHub's catalog names them)."""

    id: str
    name: str = ""
    publisher: str = ""
    summary: str = ""
    capabilities: tuple[str, ...] = ()
    input_modalities: tuple[str, ...] = ("text",)
    rate_limit_tier: str = ""
    max_input_tokens: int | None = None
    max_output_tokens: int | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def accepts_images(self) -> bool:
        """The model takes image input."""
        return "image" in self.input_modalities

    @property
    def label(self) -> str:
        """Picker label: "Llama 3.2 90B Vision (meta/llama-3.2-90b-vision-instruct)"."""
        return f"{self.name} ({self.id})" if self.name and self.name != self.id else self.id


@dataclass(frozen=True)
class CatalogResult:
    """What a fetch produced: the models, or why there are none (never raises to the page)."""

    models: tuple[ModelInfo, ...] = ()
    error: str | None = None
    url: str | None = None

    @property
    def available(self) -> bool:
        """A catalog was fetched (possibly empty)."""
        return self.error is None and self.url is not None


@dataclass(frozen=True)
class ModelChoice:
    """The model a page will use, and what the catalog said about it."""

    requested: str
    listed: bool | None  # None: no catalog to check against
    fallback: str | None = None
    info: ModelInfo | None = None

    @property
    def note(self) -> str:
        """One line for the page."""
        if self.listed is None:
            return f"Using `{self.requested}` as configured (no catalog to check it against)."
        if self.listed:
            return f"`{self.requested}` is listed in the catalog."
        if self.fallback:
            return (
                f"`{self.requested}` is not in the catalog today; "
                f"the closest available model is `{self.fallback}`."
            )
        return f"`{self.requested}` is not in the catalog today, and no fallback is listed."


def _ints(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def parse_catalog(payload: Any) -> list[ModelInfo]:
    """Turn the catalog JSON (a list of objects) into `ModelInfo`s, skipping malformed entries."""
    items = payload if isinstance(payload, list) else (payload or {}).get("models", []) if isinstance(payload, dict) else []
    models: list[ModelInfo] = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            continue
        limits = item.get("limits") if isinstance(item.get("limits"), dict) else {}
        models.append(
            ModelInfo(
                id=item["id"],
                name=str(item.get("name") or ""),
                publisher=str(item.get("publisher") or ""),
                summary=str(item.get("summary") or ""),
                capabilities=tuple(str(c) for c in item.get("capabilities") or ()),
                input_modalities=tuple(str(m) for m in item.get("supported_input_modalities") or ("text",)),
                rate_limit_tier=str(item.get("rate_limit_tier") or ""),
                max_input_tokens=_ints(limits.get("max_input_tokens")),
                max_output_tokens=_ints(limits.get("max_output_tokens")),
                tags=tuple(str(t) for t in item.get("tags") or ()),
            )
        )
    return models


def fetch_catalog(url: str, token: str | None, timeout_s: float = 8.0) -> CatalogResult:
    """GET the catalog. Failures come back as `CatalogResult.error`, not exceptions."""
    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        response = requests.get(url, headers=headers, timeout=timeout_s)
    except requests.RequestException as exc:
        return CatalogResult(error=f"could not reach the catalog ({type(exc).__name__})", url=url)
    if response.status_code != 200:
        return CatalogResult(error=f"the catalog answered {response.status_code}", url=url)
    try:
        return CatalogResult(models=tuple(parse_catalog(response.json())), url=url)
    except ValueError:
        return CatalogResult(error="the catalog did not return JSON", url=url)


def find(models: Sequence[ModelInfo], model_id: str) -> ModelInfo | None:
    """The entry whose ID matches, ignoring case (the catalog spells IDs in lower case)."""
    wanted = model_id.strip().lower()
    for m in models:
        if m.id.lower() == wanted:
            return m
    # Some endpoints list bare names without the publisher prefix.
    bare = wanted.split("/", 1)[-1]
    for m in models:
        if m.id.lower().split("/", 1)[-1] == bare:
            return m
    return None


def candidates(models: Sequence[ModelInfo], need: str) -> list[ModelInfo]:
    """Models fit for a page: need="image" keeps image-input models; need="text" keeps chat models."""
    if need == "image":
        picked = [m for m in models if m.accepts_images]
    else:
        picked = [m for m in models if "text" in m.input_modalities]
    meta_first = sorted(picked, key=lambda m: (m.publisher.lower() != "meta" and not m.id.lower().startswith("meta/"), m.id.lower()))
    return meta_first


def resolve_model(requested: str, catalog: CatalogResult | None) -> ModelChoice:
    """Check `requested` against the catalog and propose the documented fallback when it is absent."""
    if catalog is None or not catalog.available:
        return ModelChoice(requested=requested, listed=None)
    info = find(catalog.models, requested)
    if info is not None:
        return ModelChoice(requested=requested, listed=True, info=info)
    fallback = FALLBACKS.get(requested.strip().lower())
    if fallback and find(catalog.models, fallback) is None:
        fallback = None
    return ModelChoice(requested=requested, listed=False, fallback=fallback)
