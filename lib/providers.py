"""Where Llama runs: the providers and the Llama model families, kept as data (checked 2026-11-27).

Hosts drop models month by month, so everything known about them lives here, in one table with the date it was
checked (sources: shared/FACTS.md). Adding a provider is adding an entry to `PROVIDERS`; nothing else changes.
`pick_model()` walks the fallback chain against what a provider lists and says in one line what it chose and why.

Example::

    p = provider("openrouter")
    pick = pick_model(p, "tools", listed=["meta-llama/llama-3.3-70b-instruct"], explicit=None)
    pick.model   # 'meta-llama/llama-3.3-70b-instruct'
    pick.reason  # "Llama 3.1 405B isn't offered by OpenRouter any more; using Llama 3.3 70B, which reads ..."
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Collection, Literal, Sequence

CHECKED_ON = "2026-11-27"
"""When this table was last checked against the hosts' own pages (re-check before a workshop)."""

GITHUB_RETIRED_ON = "2026-07-30"
GITHUB_RETIRED = (
    "GitHub Models was retired on 30 July 2026, so a GitHub token no longer reaches any model: "
    "pick Ollama (free, on this machine), OpenRouter, NVIDIA, Hugging Face or Azure AI Foundry instead."
)

Page = Literal["tools", "vision"]
ToolFormat = Literal["builtin", "json"]


@dataclass(frozen=True)
class Limits:
    """A provider's published free-tier limits (None: not published or not limited)."""

    per_minute: int | None = None
    per_day: int | None = None
    concurrent: int | None = None  # requests in flight at once, per model, that the app allows itself
    note: str = ""


@dataclass(frozen=True)
class Provider:
    """One place Llama runs. `base_url` None means the person gives it (a server of their own, a Foundry URL)."""

    id: str
    label: str
    base_url: str | None
    key_names: tuple[str, ...]  # settings that hold its key; the first is the one shown and exported
    key_required: bool
    endpoint_name: str | None  # setting that holds its base URL, when it has one of its own
    lists_models: bool  # answers OpenAI-style GET {base}/models
    listing_checks_key: bool  # whether that listing proves the key works
    tools_models: tuple[str, ...]  # ordered candidates for the tools page (model IDs or deployment names)
    vision_models: tuple[str, ...]
    system_with_image: bool = True  # False: refuses a system message next to an image
    max_inline_image_chars: int | None = None  # largest base64 image it accepts inline
    stream_quirks: str = ""
    context_tokens: int | None = None  # input limit the server imposes whatever the model could take
    key_url: str = ""
    key_hint: str = ""  # what a key looks like
    free_tier: str = ""
    limits: Limits = field(default_factory=Limits)
    local: bool = False
    exact_tools: str = ""  # does it have the exact Llama 3.1 405B?
    exact_vision: str = ""  # does it have the exact Llama 3.2 90B Vision?
    start: str = ""  # one line to get going
    checked: str = CHECKED_ON
    short: str = ""  # the name in a sentence ("your server"), when the label is a description

    @property
    def noun(self) -> str:
        """The provider's name as a sentence uses it: "Ollama", "your server", "OpenRouter"."""
        return self.short or self.label


PROVIDERS: tuple[Provider, ...] = (
    Provider(
        id="ollama",
        label="Ollama (on this machine)",
        short="Ollama",
        base_url="http://127.0.0.1:11434/v1",  # built from OLLAMA_HOST
        key_names=(),
        key_required=False,
        endpoint_name=None,
        lists_models=True,
        listing_checks_key=False,
        tools_models=("llama3.1:405b", "llama3.3:70b", "llama3.1:70b", "llama3.1:8b", "llama3.1"),
        vision_models=("llama3.2-vision:90b", "llama3.2-vision:11b", "llama3.2-vision", "llama4:maverick",
                       "llama4:scout", "llama4"),
        stream_quirks="images only as base64 data URLs",
        context_tokens=4096,
        key_url="https://ollama.com/download",
        free_tier="free, runs on your machine; no limits but your hardware",
        limits=Limits(note="local: no quota"),
        local=True,
        exact_tools="yes: `llama3.1:405b` (231 GB)",
        exact_vision="yes: `llama3.2-vision:90b` (55 GB)",
        start="ollama pull llama3.1:8b && ollama pull llama3.2-vision",
    ),
    Provider(
        id="custom",
        label="vLLM or another server you run",
        short="your server",
        base_url=None,
        key_names=("MODELS_API_KEY",),
        key_required=False,
        endpoint_name="MODELS_ENDPOINT",
        lists_models=True,
        listing_checks_key=True,
        tools_models=("meta-llama/Llama-3.1-405B-Instruct-FP8", "meta-llama/Llama-3.1-405B-Instruct",
                      "meta-llama/Llama-3.3-70B-Instruct", "meta-llama/Llama-3.1-70B-Instruct",
                      "meta-llama/Llama-3.1-8B-Instruct"),
        vision_models=("meta-llama/Llama-3.2-90B-Vision-Instruct", "meta-llama/Llama-3.2-11B-Vision-Instruct"),
        stream_quirks="vLLM: <|eom_id|> is a stop token; <|python_tag|> may be stripped",
        key_url="https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html",
        free_tier="your own hardware",
        limits=Limits(note="your own server: no quota"),
        exact_tools="yes: `meta-llama/Llama-3.1-405B-Instruct-FP8` on 8 GPUs",
        exact_vision="yes: `meta-llama/Llama-3.2-90B-Vision-Instruct` on 4 GPUs",
        start="vllm serve meta-llama/Llama-3.1-405B-Instruct-FP8 --tensor-parallel-size 8",
    ),
    Provider(
        id="nvidia",
        label="NVIDIA API catalog",
        base_url="https://integrate.api.nvidia.com/v1",
        key_names=("NVIDIA_API_KEY",),
        key_required=True,
        endpoint_name=None,
        lists_models=True,
        listing_checks_key=False,  # GET /v1/models answers without a key
        tools_models=("meta/llama-3.1-405b-instruct", "meta/llama-3.3-70b-instruct", "meta/llama-3.1-70b-instruct",
                      "meta/llama-3.1-8b-instruct"),
        vision_models=("meta/llama-3.2-90b-vision-instruct", "meta/llama-3.2-11b-vision-instruct",
                       "meta/llama-4-maverick-17b-128e-instruct", "meta/llama-4-scout-17b-16e-instruct"),
        system_with_image=False,
        max_inline_image_chars=180_000,
        stream_quirks="retired models answer 410 with an end-of-life date while still listed",
        key_url="https://build.nvidia.com/",
        key_hint="nvapi-…",
        free_tier="free credits for prototyping with an NVIDIA developer account",
        limits=Limits(per_minute=40, concurrent=2, note="about 40 requests a minute on free credits"),
        exact_tools="no (405B deprecated 2026-04)",
        exact_vision="listed: `meta/llama-3.2-90b-vision-instruct` (seen 2026-09-05)",
        start="export NVIDIA_API_KEY=nvapi-…",
    ),
    Provider(
        id="openrouter",
        label="OpenRouter",
        base_url="https://openrouter.ai/api/v1",
        key_names=("OPENROUTER_API_KEY",),
        key_required=True,
        endpoint_name=None,
        lists_models=True,
        listing_checks_key=False,
        tools_models=("meta-llama/llama-3.1-405b-instruct", "meta-llama/llama-3.3-70b-instruct",
                      "meta-llama/llama-3.3-70b-instruct:free", "meta-llama/llama-3.1-70b-instruct",
                      "meta-llama/llama-3.1-8b-instruct"),
        vision_models=("meta-llama/llama-3.2-90b-vision-instruct", "meta-llama/llama-3.2-11b-vision-instruct",
                       "meta-llama/llama-4-maverick", "meta-llama/llama-4-scout"),
        key_url="https://openrouter.ai/settings/keys",
        key_hint="sk-or-…",
        free_tier="`:free` models: 20 requests a minute, 50 a day without credits",
        limits=Limits(per_minute=20, per_day=50, concurrent=2, note=":free models: 20 a minute, 50 a day"),
        exact_tools="no (dropped by 2026-05); Llama 3.3 70B reads the same tool format",
        exact_vision="no; Llama 3.2 11B Vision and Llama 4 Maverick",
        start="export OPENROUTER_API_KEY=sk-or-…",
    ),
    Provider(
        id="huggingface",
        label="Hugging Face Inference Providers",
        base_url="https://router.huggingface.co/v1",
        key_names=("HF_TOKEN",),
        key_required=True,
        endpoint_name=None,
        lists_models=True,
        listing_checks_key=False,
        tools_models=("meta-llama/Llama-3.1-405B-Instruct", "meta-llama/Llama-3.3-70B-Instruct",
                      "meta-llama/Llama-3.1-70B-Instruct", "meta-llama/Llama-3.1-8B-Instruct"),
        vision_models=("meta-llama/Llama-3.2-90B-Vision-Instruct", "meta-llama/Llama-3.2-11B-Vision-Instruct",
                       "meta-llama/Llama-4-Maverick-17B-128E-Instruct", "meta-llama/Llama-4-Scout-17B-16E-Instruct"),
        key_url="https://huggingface.co/settings/tokens",
        key_hint="hf_…",
        free_tier="small monthly credit on a free account",
        limits=Limits(concurrent=2, note="monthly credits; pay as you go after"),
        exact_tools="no; `meta-llama/Llama-3.3-70B-Instruct`",
        exact_vision="unknown: depends on which inference provider serves it that month",
        start="export HF_TOKEN=hf_…",
    ),
    Provider(
        id="azure",
        label="Azure AI Foundry",
        base_url=None,  # https://<resource>.services.ai.azure.com/models
        key_names=("AZURE_AI_CHAT_KEY",),
        key_required=True,
        endpoint_name="AZURE_AI_CHAT_ENDPOINT",
        lists_models=False,  # the model is your deployment name
        listing_checks_key=False,
        tools_models=("Llama-3.3-70B-Instruct", "Llama-4-Maverick-17B-128E-Instruct-FP8",
                      "Llama-4-Scout-17B-16E-Instruct"),
        vision_models=("Llama-4-Maverick-17B-128E-Instruct-FP8", "Llama-4-Scout-17B-16E-Instruct"),
        key_url="https://ai.azure.com/",
        free_tier="pay as you go on your Azure subscription",
        limits=Limits(note="your deployment's quota"),
        exact_tools="no (retired 2026-06-13); Llama 3.3 70B",
        exact_vision="no (retired 2026-06-13); Llama 4 Maverick / Scout",
        start="export AZURE_AI_CHAT_ENDPOINT=https://<resource>.services.ai.azure.com/models AZURE_AI_CHAT_KEY=…",
    ),
)

_BY_ID = {p.id: p for p in PROVIDERS}
PROVIDER_IDS: tuple[str, ...] = tuple(_BY_ID)
KEYED_ORDER: tuple[str, ...] = ("nvidia", "openrouter", "huggingface", "azure")
"""The order in which a present key picks the provider (when nothing is set explicitly)."""

# Hosts that identify a provider when only MODELS_ENDPOINT is given.
_HOSTS: dict[str, str] = {
    "integrate.api.nvidia.com": "nvidia",
    "openrouter.ai": "openrouter",
    "router.huggingface.co": "huggingface",
}


def provider(provider_id: str) -> Provider:
    """The provider with this id (KeyError for an unknown id)."""
    return _BY_ID[provider_id]


def provider_for_host(host: str, port: int | None = None) -> str | None:
    """The provider a base URL's host belongs to, if it is one of the hosted ones (or Ollama's port)."""
    host = host.lower()
    if host in _HOSTS:
        return _HOSTS[host]
    if host.endswith(".services.ai.azure.com") or host.endswith(".models.ai.azure.com") or host.endswith(
        ".inference.ai.azure.com"
    ):
        return "azure"
    if port == 11434:
        return "ollama"
    return None


# --- model families ----------------------------------------------------------------------------------------------

_NOT_META = re.compile(r"nemotron|guard|embed|rerank|swallow|taiwan|lion|sauerkraut|hermes|tulu|dolphin|"
                       r"abliterated|uncensored|distill|deepseek|instruct-?tuned-by")


@dataclass(frozen=True)
class Family:
    """A Llama model family: how to recognise its IDs on every host, and how it calls tools."""

    key: str
    label: str
    pattern: re.Pattern[str]
    tool_format: ToolFormat  # "builtin": Llama 3.1's system-prompt tools; "json": custom-tool definitions
    vision: bool
    context_tokens: int


def _f(key: str, label: str, pattern: str, tool_format: ToolFormat, vision: bool, context: int) -> Family:
    return Family(key, label, re.compile(pattern), tool_format, vision, context)


FAMILIES: tuple[Family, ...] = (
    _f("llama-3.1-405b", "Llama 3.1 405B", r"llama[-_ ]?3[.-]1\b.*405b", "builtin", False, 128_000),
    _f("llama-3.3-70b", "Llama 3.3 70B", r"llama[-_ ]?3[.-]3\b.*70b", "builtin", False, 128_000),
    _f("llama-3.1-70b", "Llama 3.1 70B", r"llama[-_ ]?3[.-]1\b.*70b", "builtin", False, 128_000),
    _f("llama-3.1-8b", "Llama 3.1 8B", r"llama[-_ ]?3[.-]1\b(?:.*\b8b|:latest$|$)", "builtin", False, 128_000),
    _f("llama-3.2-90b-vision", "Llama 3.2 90B Vision", r"llama[-_ ]?3[.-]2\b.*90b", "json", True, 128_000),
    _f("llama-3.2-11b-vision", "Llama 3.2 11B Vision",
       r"llama[-_ ]?3[.-]2\b.*(?:11b|vision(?::latest)?$)", "json", True, 128_000),
    _f("llama-4-maverick", "Llama 4 Maverick", r"llama[-_ ]?4\b.*maverick", "json", True, 1_000_000),
    _f("llama-4-scout", "Llama 4 Scout", r"llama[-_ ]?4\b.*scout", "json", True, 1_000_000),
    _f("llama-3.2-text", "Llama 3.2 (text)", r"llama[-_ ]?3[.-]2\b.*\b[13]b", "json", False, 128_000),
)
_FAMILY = {f.key: f for f in FAMILIES}

CHAINS: dict[str, tuple[str, ...]] = {
    "tools": ("llama-3.1-405b", "llama-3.3-70b", "llama-3.1-70b", "llama-3.1-8b"),
    "vision": ("llama-3.2-90b-vision", "llama-3.2-11b-vision", "llama-4-maverick", "llama-4-scout"),
}
"""The documented fallback chains: the model each page was built for first."""

BUILT_FOR = {"tools": "Llama 3.1 405B", "vision": "Llama 3.2 90B Vision"}


def family_of(model_id: str) -> Family | None:
    """The Llama family a model ID belongs to (on any host's spelling), or None."""
    mid = model_id.strip().lower()
    if not mid or _NOT_META.search(mid):
        return None
    for fam in FAMILIES:
        if fam.pattern.search(mid):
            return fam
    return None


def tool_format(model_id: str) -> ToolFormat:
    """"builtin" for Llama 3.1/3.3 (built-in tools in the system prompt), else "json" custom-tool definitions."""
    fam = family_of(model_id)
    return fam.tool_format if fam else "json"


def display_name(model_id: str) -> str:
    """"Llama 3.3 70B" for any spelling of a known family, else the ID itself."""
    fam = family_of(model_id)
    return fam.label if fam else model_id


def fits_page(model_id: str, page: Page) -> bool:
    """Whether a listed model suits a page: vision families for vision, Llama text families for tools."""
    fam = family_of(model_id)
    if fam is None:
        return False
    return fam.vision if page == "vision" else (not fam.vision or fam.key.startswith("llama-4"))


@dataclass(frozen=True)
class ModelPick:
    """The model a page will use, and one line saying why."""

    model: str | None
    reason: str
    exact: bool = False  # the model the page was built for
    options: tuple[str, ...] = ()  # what the picker may offer, best first

    @property
    def label(self) -> str:
        """"Llama 3.3 70B" (or the ID when it is not a known family)."""
        return display_name(self.model) if self.model else "no model"


def _rank(candidates: Sequence[str], model_id: str) -> tuple[int, int, str]:
    lowered = [c.lower() for c in candidates]
    mid = model_id.lower()
    return (lowered.index(mid) if mid in lowered else len(lowered), len(mid), mid)


def _why_fallback(p: Provider, page: Page, fam: Family, gone: Sequence[str]) -> str:
    first = BUILT_FOR[page]
    if gone:
        lead = f"`{gone[-1]}` was retired or removed, so {first} isn't available here; "
    elif p.local or p.base_url is None:
        lead = f"{first} isn't served by {p.label}; "
    else:
        lead = f"{first} isn't offered by {p.label} any more; "
    if page == "tools":
        if fam.tool_format == "builtin":
            return lead + f"using {fam.label}, which reads the same tool format."
        return lead + f"using {fam.label}; it has no built-in tools, so the tools are sent as JSON definitions."
    if fam.key == "llama-3.2-11b-vision":
        return lead + f"using {fam.label}, the same model at a smaller size."
    return lead + f"using {fam.label}, the closest Llama that reads images."


def pick_model(
    p: Provider,
    page: Page,
    listed: Sequence[str] | None,
    explicit: str | None = None,
    skipped: Collection[str] = (),
) -> ModelPick:
    """Choose the model for a page: `explicit` as given; else the first of the chain the provider lists.

    `listed` is what GET /models returned (None: no listing, e.g. Foundry deployments or the listing failed);
    `skipped` are models that answered "retired" or "not found" on this server.
    """
    skip = {s.lower() for s in skipped}
    candidates = p.tools_models if page == "tools" else p.vision_models
    fitting = sorted({m for m in (listed or ()) if fits_page(m, page) and m.lower() not in skip},
                     key=lambda m: _rank(candidates, m))
    chain = CHAINS[page]
    ordered = sorted(fitting, key=lambda m: (chain.index(family_of(m).key) if family_of(m).key in chain  # type: ignore[union-attr]
                                             else len(chain), _rank(candidates, m)))
    options = tuple(ordered)
    gone = [s for s in skipped if fits_page(s, page)]

    if explicit and explicit.lower() not in skip:
        setting = "TOOLS_MODEL" if page == "tools" else "VISION_MODEL"
        note = ""
        if listed is not None and explicit.lower() not in {m.lower() for m in listed}:
            note = f" {p.label} does not list it, so check the name if requests fail."
        fam = family_of(explicit)
        exact = fam is not None and fam.key == chain[0]
        return ModelPick(explicit, f"Using `{explicit}` as set in {setting}.{note}", exact,
                         (explicit,) + tuple(m for m in options if m != explicit))

    if listed is None:
        for cand in candidates:
            if cand.lower() not in skip:
                fam = family_of(cand)
                exact = fam is not None and fam.key == chain[0]
                what = "deployment" if p.id == "azure" else "model"
                why = (f"Using the {what} `{cand}`: {p.label} has no model list to check it against"
                       + ("" if exact else f" ({BUILT_FOR[page]} isn't offered there)") + ".")
                if p.id == "azure":
                    why += " Type your own deployment name in the sidebar if it differs."
                return ModelPick(cand, why, exact, tuple(c for c in candidates if c.lower() not in skip))
        return ModelPick(None, f"Every known {page} model of {p.label} was retired or refused; set one by name.")

    if not ordered and skip and listed:
        # Every listed candidate answered "not found" / "retired" a moment ago. One odd answer must not leave every
        # visitor with no model: offer them again (the skip is a hint, and it expires anyway).
        again = pick_model(p, page, listed, explicit, ())
        if again.model:
            return dataclasses.replace(again, reason=again.reason + " (It was refused a moment ago; trying it again.)")
    if not ordered:
        hint = ""
        if p.id == "ollama":
            hint = (" Pull one first: `ollama pull llama3.1:8b`." if page == "tools"
                    else " Pull one first: `ollama pull llama3.2-vision`.")
        kind = "Llama text model" if page == "tools" else "Llama vision model"
        return ModelPick(None, f"{p.label} lists no {kind}.{hint}")

    best = ordered[0]
    fam = family_of(best)
    assert fam is not None
    if fam.key == chain[0]:
        return ModelPick(best, f"{fam.label}, the model this page was built for.", True, options)
    if fam.key in chain:
        return ModelPick(best, _why_fallback(p, page, fam, gone), False, options)
    return ModelPick(best, f"No model of the documented chain is offered by {p.label}; using {fam.label}.",
                     False, options)


def next_model(p: Provider, page: Page, listed: Sequence[str] | None, current: str,
               skipped: Collection[str]) -> str | None:
    """The model to try after `current` answered "retired" / "not found" (None: nothing left)."""
    pick = pick_model(p, page, listed, None, {*skipped, current})
    return pick.model if pick.model and pick.model.lower() != current.lower() else None


def context_limit(p: Provider, model_id: str, listed_context: int | None = None) -> int:
    """Input tokens a request may use: the listing's figure (capped by the server's own limit, e.g. Ollama's 4k),
    else the provider table's, else 8000."""
    if listed_context and p.context_tokens:
        return min(listed_context, p.context_tokens)
    return listed_context or p.context_tokens or 8000


def answered_by(model: str, served_model: str, provider: str) -> str:
    """"Llama 3.1 8B on Ollama"; the server's own name for the model when it names another one than was asked for
    ("Llama 3.1 8B on LiteLLM (asked for Llama 3.1 405B)")."""
    asked = display_name(model) if model else "the model"
    name = display_name(served_model) if served_model else asked
    text = f"{name} on {provider}" if provider else name
    return text + (f" (asked for {asked})" if served_model and name != asked else "")
