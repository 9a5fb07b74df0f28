"""Where Llama runs: the providers and the Llama model families, kept as data (checked 2026-12-01).

Hosts drop models month by month, so everything known about them lives here, in one table with the date it was
checked (sources: shared/FACTS.md). Adding a provider is adding an entry to `PROVIDERS`; nothing else changes.
`pick_model()` walks the fallback chain against what a provider lists and says in one line what it chose and why:
models the entry knows are retired come last, families the server's version can't run (Ollama 0.30+ and Llama 3.2
Vision) never come, and a host whose OpenAI route takes no images (Cloudflare) gets no vision model.

A base URL that needs a value is data too: `fill_base_url()` fills Cloudflare's `{ACCOUNT_ID}` from
`CLOUDFLARE_ACCOUNT_ID`; `endpoint_from_setting()` turns what a person pastes as a Foundry endpoint into its OpenAI
v1 route (`foundry_endpoint()`), and `retired_route_message()` reads a "this route was retired" answer.

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
from functools import lru_cache
from typing import Callable, Collection, Literal, Mapping, Sequence
from urllib.parse import quote, urlsplit, urlunsplit

from lib.i18n import DEFAULT, Msg, catalogue, msg

NO_PROVIDER = "no provider"
"""What `Settings.label` says when no provider is configured: never written as "… on no provider"."""

CHECKED_ON = "2026-12-01"
"""When this table was last checked against the hosts' own pages (re-check before a workshop)."""

GITHUB_RETIRED_ON = "2026-07-30"
GITHUB_RETIRED_MSG = msg("hosts.github_retired")
"""Said where a GitHub token or GitHub Models endpoint is all that was found (its words: lib/i18n/*/hosts.toml)."""
GITHUB_RETIRED = str(GITHUB_RETIRED_MSG)  # "GitHub Models was retired on 30 July 2026, so a GitHub token …"

OLLAMA_NO_MLLAMA_SINCE: tuple[int, ...] = (0, 30)
"""The first Ollama version that cannot run Llama 3.2 Vision (0.30, 2026-05-29: llama.cpp's server has no 'mllama')."""
OLLAMA_NO_MLLAMA_MSG = msg("hosts.ollama_no_mllama")
OLLAMA_NO_MLLAMA = str(OLLAMA_NO_MLLAMA_MSG)  # "Ollama 0.30+ can't run Llama 3.2 Vision: add an NVIDIA key …"

AZURE_RETIRED_ROUTE_MSG = msg("hosts.azure_retired_route")
"""What a Foundry answer saying the /models route (the one azure-ai-inference was built for) is retired means."""
AZURE_RETIRED_ROUTE = str(AZURE_RETIRED_ROUTE_MSG)  # "This Azure endpoint uses the retired /models route: use …"

PAID_NOTE = "paid: your account's rate limits"
"""`Limits.paid_note` unless an entry says otherwise (`hosts.limits.paid`)."""

_SHARED_TEXTS: dict[str, str] = {GITHUB_RETIRED: "hosts.github_retired", OLLAMA_NO_MLLAMA: "hosts.ollama_no_mllama",
                                 AZURE_RETIRED_ROUTE: "hosts.azure_retired_route", PAID_NOTE: "hosts.limits.paid"}
"""Entries' texts that are one of these constants, said through the constant's own catalogue key."""


def said(provider_id: str, name: str, value: str) -> "Msg | str":
    """An entry's text (`Provider.label`, `.free_tier`, `Limits.note`, …) as the page's language says it: the `Msg`
    of `hosts.provider.<id>.<name>` (or of the constant it is), else the text as written (a provider's own name)."""
    if not value:
        return value
    key = _SHARED_TEXTS.get(value, f"hosts.provider.{provider_id}.{name}")
    return msg(key) if key in catalogue(DEFAULT) else value

Page = Literal["tools", "vision"]
ToolFormat = Literal["builtin", "json"]


@dataclass(frozen=True)
class Limits:
    """A provider's published free-tier limits (None: not published or not limited).

    `only_suffix`: the per-minute and per-day figures hold only for models whose id ends with it (OpenRouter's
    `:free` models); any other model of the provider is a paid one, limited by the account (`paid_note`).
    `concurrent` is the app's own cap and holds for every model."""

    per_minute: int | None = None
    per_day: int | None = None
    concurrent: int | None = None  # requests in flight at once, per model, that the app allows itself
    note: str = ""
    only_suffix: str = ""
    paid_note: str = PAID_NOTE
    # The notes as `Msg`s, for a page in another language (`Provider` fills them from lib/i18n/*/hosts.toml).
    note_msg: Msg | None = field(default=None, compare=False, repr=False)
    paid_note_msg: Msg | None = field(default=None, compare=False, repr=False)

    @property
    def shown_note(self) -> "Msg | str":
        """`note` as a page shows it: its `Msg` when it has one (`ui.i18n.say` renders either)."""
        return self.note_msg if self.note_msg is not None else self.note

    def applies_to(self, model: str | None) -> bool:
        """Whether the per-minute and per-day figures are this model's (always, unless `only_suffix` says not)."""
        return not self.only_suffix or bool(model) and str(model).strip().lower().endswith(self.only_suffix)

    def for_model(self, model: str | None) -> "Limits":
        """The limits that hold for `model`: as published, or (a paid model of a free tier) none but the cap.

        >>> free_tier = Limits(per_minute=20, per_day=50, concurrent=2, only_suffix=":free")
        >>> free_tier.for_model("meta-llama/llama-3.3-70b-instruct:free").per_day
        50
        >>> free_tier.for_model("meta-llama/llama-3.3-70b-instruct").per_day is None
        True
        """
        if self.applies_to(model):
            return self
        return dataclasses.replace(self, per_minute=None, per_day=None, note=self.paid_note,
                                   note_msg=self.paid_note_msg)


@dataclass(frozen=True)
class VersionLimit:
    """Model families a server runs only before some version of its own software (Ollama 0.30 dropped 'mllama')."""

    families: tuple[str, ...]  # Family keys
    before: tuple[int, ...]  # the first version that can't run them
    requires: str  # "needs Ollama 0.29 or older"
    note: str  # one line for people: what to do instead
    requires_msg: Msg | None = field(default=None, compare=False, repr=False)  # the same, for a page's language
    note_msg: Msg | None = field(default=None, compare=False, repr=False)

    def blocks(self, model_id: str, version: Sequence[int] | None) -> bool | None:
        """True: this version can't run the model; False: it can (or the limit is not about it); None: the model
        is one of the families and the version is unknown."""
        fam = family_of(model_id)
        if fam is None or fam.key not in self.families:
            return False
        if version is None:
            return None
        return tuple(version) >= self.before


def parse_version(text: str | None) -> tuple[int, ...] | None:
    """(0, 34, 1) from "0.34.1", "v0.29.2-rc1" or Ollama's `{"version": "0.34.1"}` value; None when unreadable."""
    m = re.match(r"\s*v?(\d+(?:\.\d+)*)", text or "")
    return tuple(int(part) for part in m.group(1).split(".")) if m else None


# --- base URLs a person supplies -----------------------------------------------------------------------------------

_FOUNDRY_HOSTS = (".openai.azure.com", ".services.ai.azure.com", ".cognitiveservices.azure.com")
_REQUEST_TAILS = ("/chat/completions", "/completions")


def foundry_endpoint(url: str) -> str:
    """The OpenAI v1 base URL of the Azure resource a pasted URL names (FACTS: Microsoft retired the `/models`
    route the azure-ai-inference SDK was built for; the same resource answers at `/openai/v1`).

    Any URL on a Foundry / Azure OpenAI host becomes `https://<host>/openai/v1`: the old `/models` form, a project URL
    (`/api/projects/<name>`), a copied request URL (`/chat/completions?api-version=…`), a classic
    `/openai/deployments/<name>/…` URL, or the bare resource. Any other host (a gateway, a serverless
    `*.models.ai.azure.com` endpoint) keeps its path, minus a copied `/chat/completions` and query. "" stays "".

    >>> foundry_endpoint("https://res.services.ai.azure.com/models")
    'https://res.services.ai.azure.com/openai/v1'
    >>> foundry_endpoint("res.openai.azure.com/openai/v1/chat/completions?api-version=2024-05-01-preview")
    'https://res.openai.azure.com/openai/v1'
    """
    raw = (url or "").strip()
    if not raw:
        return ""
    if "://" not in raw:
        raw = "https://" + raw
    parts = urlsplit(raw)
    host = (parts.hostname or "").lower()
    if host.endswith(_FOUNDRY_HOSTS):
        return urlunsplit(("https", parts.netloc, "/openai/v1", "", ""))
    path = parts.path.rstrip("/")
    for tail in _REQUEST_TAILS:
        if path.lower().endswith(tail):
            path = path[: -len(tail)].rstrip("/")
            break
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


@dataclass(frozen=True)
class Provider:
    """One place Llama runs. `base_url` None means the URL comes from a setting: `endpoint_name` (a server of your
    own, a Foundry resource) or `base_url_template` filled from `url_settings` (Cloudflare's account ID)."""

    id: str
    label: str
    base_url: str | None
    key_names: tuple[str, ...]  # settings that hold its key; the first is the one shown and exported
    key_required: bool
    endpoint_name: str | None  # setting that holds its base URL, when it has one of its own
    lists_models: bool  # answers OpenAI-style GET {base}/models
    listing_checks_key: bool  # whether that listing proves the key works
    tools_models: tuple[str, ...]  # ordered candidates for the tools page (model IDs or deployment names)
    vision_models: tuple[str, ...]  # () with `vision_hint` saying why: the vision page never uses this host alone
    system_with_image: bool = True  # False: refuses a system message next to an image
    max_inline_image_chars: int | None = None  # largest base64 image it accepts inline
    accepts_images: bool = True  # False: its OpenAI route refuses image parts, so no model is ever picked for vision
    stream_quirks: str = ""
    context_tokens: int | None = None  # input limit the server imposes whatever the model could take
    key_url: str = ""
    key_hint: str = ""  # what a key looks like
    free_tier: str = ""
    limits: Limits = field(default_factory=Limits)
    local: bool = False
    exact_tools: str = ""  # does it have the exact Llama 3.1 405B? (else what the tools page uses there)
    exact_vision: str = ""  # does it have the exact Llama 3.2 90B Vision? (else what the vision page uses there)
    start: str = ""  # one line to get going
    checked: str = CHECKED_ON
    short: str = ""  # the name in a sentence ("your server"), when the label is a description
    # Base URLs with a value in them: "https://…/accounts/{ACCOUNT_ID}/ai/v1" and which setting fills each {NAME}.
    base_url_template: str = ""
    url_settings: tuple[tuple[str, str], ...] = ()
    # What a person pastes into `endpoint_name`, made into the base URL the client posts to (Foundry: `/openai/v1`).
    normalise_endpoint: Callable[[str], str] | None = None
    endpoint_example: str = ""  # the endpoint's shape, for placeholders, exported code and the README
    retired: tuple[tuple[str, str], ...] = ()  # (model ID, end-of-life date): known dead, tried only as a last resort
    version_limits: tuple[VersionLimit, ...] = ()  # families only older versions of the server software can run
    tools_hint: str = ""  # what to do when it offers no Llama text model
    vision_hint: str = ""  # what to do when it offers no Llama vision model (or why it never can)
    retired_route_hint: str = ""  # what an answer saying "this route is retired" means for this host

    def __post_init__(self) -> None:
        # The limits' notes as Msgs (hosts.provider.<id>.limits_note / .paid_note), for the page's language.
        note, paid = said(self.id, "limits_note", self.limits.note), said(self.id, "paid_note", self.limits.paid_note)
        object.__setattr__(self, "limits", dataclasses.replace(
            self.limits, note_msg=note if isinstance(note, Msg) else None,
            paid_note_msg=paid if isinstance(paid, Msg) else None))

    def said(self, name: str) -> "Msg | str":
        """A text field of this entry ("label", "free_tier", "exact_tools", "vision_hint", …) in a form `ui.i18n.say`
        renders in the page's language (`said()`): a `Msg`, or the text itself where it is a name."""
        return said(self.id, name, getattr(self, name))

    @property
    def label_msg(self) -> "Msg | str":
        """`label` for a page: "Ollama (on this machine)" / "Ollama (이 컴퓨터에서 실행)"; a name as it is."""
        return self.said("label")

    @property
    def noun_msg(self) -> "Msg | str":
        """`noun` for a page ("your server" / "직접 운영하는 서버")."""
        return self.said("short") if self.short else self.label_msg

    @property
    def subject_msg(self) -> "Msg | str":
        """`subject` for a page ("Your server" / "직접 운영하는 서버")."""
        key = f"hosts.provider.{self.id}.subject"
        return msg(key) if key in catalogue(DEFAULT) else self.subject

    @property
    def noun(self) -> str:
        """The provider's name as a sentence uses it: "Ollama", "your server", "OpenRouter"."""
        return self.short or self.label

    @property
    def subject(self) -> str:
        """The provider's name at the start of a sentence: "Your server", "Ollama"."""
        return self.noun[:1].upper() + self.noun[1:]

    @property
    def retired_on(self) -> dict[str, str]:
        """Known end-of-life dates by lower-case model ID."""
        return {m.lower(): when for m, when in self.retired}

    @property
    def setting_names(self) -> tuple[str, ...]:
        """Every setting a person sets for it: the key first, then its URL settings ("CLOUDFLARE_ACCOUNT_ID")."""
        names = self.key_names[:1] + ((self.endpoint_name,) if self.endpoint_name else ())
        return names + tuple(setting for _, setting in self.url_settings)


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
        # Ollama >= 0.30 (2026-05-29) can't load Llama 3.2 Vision (HTTP 500 "unknown model architecture: 'mllama'",
        # ollama/ollama #16490, still so on 0.34.1): Llama 4 first; llama3.2-vision only for Ollama 0.29 or older.
        vision_models=("llama4:scout", "llama4:maverick", "llama4", "llama3.2-vision:90b", "llama3.2-vision:11b",
                       "llama3.2-vision"),
        stream_quirks="images only as base64 data URLs; one request at a time per model unless OLLAMA_NUM_PARALLEL",
        context_tokens=4096,
        key_url="https://ollama.com/download",
        free_tier="free, runs on your machine; no limits but your hardware",
        limits=Limits(note="local: no quota"),
        local=True,
        exact_tools="yes: `llama3.1:405b` (231 GB)",
        exact_vision="only on Ollama 0.29 or older: `llama3.2-vision:90b` (55 GB); on 0.30+ `llama4:scout`",
        start="ollama pull llama3.1:8b",
        version_limits=(VersionLimit(("llama-3.2-90b-vision", "llama-3.2-11b-vision"), OLLAMA_NO_MLLAMA_SINCE,
                                     str(msg("hosts.ollama_requires")), OLLAMA_NO_MLLAMA,
                                     msg("hosts.ollama_requires"), OLLAMA_NO_MLLAMA_MSG),),
        tools_hint="Pull one first: `ollama pull llama3.1:8b`.",
        vision_hint=OLLAMA_NO_MLLAMA,
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
        checked="2026-11-27",
        endpoint_example="http://host:8000/v1",
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
        # Not confirmed alive: no end-of-life date is known for 3.1 70B / 8B, and no live call checked them.
        tools_models=("meta/llama-3.1-70b-instruct", "meta/llama-3.1-8b-instruct"),
        vision_models=("meta/llama-3.2-90b-vision-instruct",  # listed 2026-09-05: the only hosted 90B Vision
                       "meta/llama-3.2-11b-vision-instruct"),  # answered 2026-07-30
        # Retired models answer 410 with their end-of-life date while still listed: tried only if nothing else is.
        retired=(("meta/llama-3.1-405b-instruct", "2026-04"),  # deprecated 2026-04, removed by 2026-05
                 ("meta/llama-3.3-70b-instruct", "2026-09"),  # answers 410, end of life
                 ("meta/llama-4-maverick-17b-128e-instruct", "2026-07-27"),
                 ("meta/llama-4-scout-17b-16e-instruct", "2026-05")),  # removed by 2026-05
        system_with_image=False,
        max_inline_image_chars=180_000,
        stream_quirks="retired models answer 410 with an end-of-life date while still listed",
        key_url="https://build.nvidia.com/",
        key_hint="nvapi-…",
        free_tier="free credits for prototyping with an NVIDIA developer account",
        limits=Limits(per_minute=40, concurrent=2, note="about 40 requests a minute on free credits"),
        exact_tools="no (405B retired 2026-04, 3.3 70B 2026-09); `meta/llama-3.1-70b-instruct` (not confirmed)",
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
        limits=Limits(per_minute=20, per_day=50, concurrent=2, note=":free models: 20 a minute, 50 a day",
                      only_suffix=":free", paid_note="paid model: your account's rate limits (20 a minute and "
                                                     "50 a day hold for :free models only)"),
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
        checked="2026-11-27",
    ),
    Provider(
        id="azure",
        label="Azure AI Foundry",
        base_url=None,  # AZURE_AI_CHAT_ENDPOINT, made into https://<resource>.openai.azure.com/openai/v1
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
        start="export AZURE_AI_CHAT_ENDPOINT=https://<resource>.openai.azure.com/openai/v1 AZURE_AI_CHAT_KEY=…",
        # The /models route azure-ai-inference was built for was retired (target 2026-08-26); the resource's OpenAI
        # v1 route replaces it: model = the deployment name, key in `api-key`.
        normalise_endpoint=foundry_endpoint,
        endpoint_example="https://<resource>.openai.azure.com/openai/v1",
        retired_route_hint=AZURE_RETIRED_ROUTE,
    ),
    Provider(
        id="sambanova",
        label="SambaNova Cloud",
        short="SambaNova",
        base_url="https://api.sambanova.ai/v1",
        key_names=("SAMBANOVA_API_KEY",),
        key_required=True,
        endpoint_name=None,
        lists_models=True,
        listing_checks_key=False,
        tools_models=("Meta-Llama-3.3-70B-Instruct",),
        vision_models=(),
        key_url="https://cloud.sambanova.ai/apis",
        free_tier="free: 20 requests a minute, 20 a day",
        limits=Limits(per_minute=20, per_day=20, concurrent=2, note="free tier: 20 a minute, 20 a day"),
        exact_tools="no; `Meta-Llama-3.3-70B-Instruct`",
        exact_vision="no Llama that reads images",
        start="export SAMBANOVA_API_KEY=…",
        vision_hint="SambaNova serves no Llama that reads images (checked 2026-12-01): use NVIDIA for the exact "
                    "90B, or DeepInfra, OpenRouter or Hugging Face for Llama 4.",
    ),
    Provider(
        id="together",
        label="Together AI",
        short="Together",
        base_url="https://api.together.xyz/v1",
        key_names=("TOGETHER_API_KEY",),
        key_required=True,
        endpoint_name=None,
        lists_models=True,
        listing_checks_key=False,
        tools_models=("meta-llama/Llama-3.3-70B-Instruct-Turbo",),
        vision_models=(),
        key_url="https://api.together.ai/settings/api-keys",
        free_tier="no free tier: pay as you go",
        limits=Limits(concurrent=2, note="paid: your account's rate limits"),
        exact_tools="no; `meta-llama/Llama-3.3-70B-Instruct-Turbo`",
        exact_vision="no Llama that reads images",
        start="export TOGETHER_API_KEY=…",
        vision_hint="Together serves no Llama that reads images (checked 2026-12-01): use NVIDIA for the exact "
                    "90B, or DeepInfra, OpenRouter or Hugging Face for Llama 4.",
    ),
    Provider(
        id="deepinfra",
        label="DeepInfra",
        base_url="https://api.deepinfra.com/v1/openai",
        key_names=("DEEPINFRA_API_KEY",),
        key_required=True,
        endpoint_name=None,
        lists_models=True,
        listing_checks_key=False,
        tools_models=("meta-llama/Llama-3.3-70B-Instruct-Turbo", "meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8",
                      "meta-llama/Llama-4-Scout-17B-16E-Instruct"),
        vision_models=("meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8",
                       "meta-llama/Llama-4-Scout-17B-16E-Instruct"),
        key_url="https://deepinfra.com/dash/api_keys",
        free_tier="pay as you go; no free tier confirmed",
        limits=Limits(concurrent=2, note="paid: your account's rate limits"),
        exact_tools="no; `meta-llama/Llama-3.3-70B-Instruct-Turbo`",
        exact_vision="no; Llama 4 Maverick / Scout",
        start="export DEEPINFRA_API_KEY=…",
    ),
    Provider(
        id="cloudflare",
        label="Cloudflare Workers AI",
        short="Cloudflare",
        base_url=None,  # filled from CLOUDFLARE_ACCOUNT_ID: see `fill_base_url`
        base_url_template="https://api.cloudflare.com/client/v4/accounts/{ACCOUNT_ID}/ai/v1",
        url_settings=(("ACCOUNT_ID", "CLOUDFLARE_ACCOUNT_ID"),),
        key_names=("CLOUDFLARE_API_TOKEN",),
        key_required=True,
        endpoint_name=None,
        lists_models=False,  # its OpenAI-compatible route lists no models: the candidates are used as given
        listing_checks_key=False,
        tools_models=("@cf/meta/llama-3.3-70b-instruct-fp8-fast", "@cf/meta/llama-3.1-8b-instruct-fp8",
                      "@cf/meta/llama-4-scout-17b-16e-instruct"),
        # No vision candidates: its OpenAI-compatible route rejects image parts, Llama 4 Scout's included.
        vision_models=(),
        accepts_images=False,
        key_url="https://developers.cloudflare.com/workers-ai/get-started/rest-api/",
        free_tier="free: 10 000 neurons a day",
        limits=Limits(concurrent=2, note="free: 10 000 neurons a day (a compute budget, not a request count)"),
        exact_tools="no; `@cf/meta/llama-3.3-70b-instruct-fp8-fast`",
        exact_vision="no: its OpenAI route rejects image parts",
        start="export CLOUDFLARE_ACCOUNT_ID=… CLOUDFLARE_API_TOKEN=…",
        vision_hint="Cloudflare's OpenAI-compatible route rejects image parts, so the vision page can't use it: use "
                    "NVIDIA for the exact 90B, or DeepInfra, OpenRouter or Hugging Face for Llama 4.",
    ),
)

_BY_ID = {p.id: p for p in PROVIDERS}
PROVIDER_IDS: tuple[str, ...] = tuple(_BY_ID)
KEYED_ORDER: tuple[str, ...] = ("nvidia", "openrouter", "huggingface", "sambanova", "cloudflare", "deepinfra",
                                "together", "azure")
"""The order in which a present key picks the provider (when nothing is set explicitly): the host with an exact
model first (NVIDIA: Llama 3.2 90B Vision), then free tiers (OpenRouter and Hugging Face also read images), then paid
hosts (DeepInfra reads images too), Foundry last (it needs an endpoint and deployments as well)."""

# Hosts that identify a provider when only MODELS_ENDPOINT is given.
_HOSTS: dict[str, str] = {
    "integrate.api.nvidia.com": "nvidia",
    "openrouter.ai": "openrouter",
    "router.huggingface.co": "huggingface",
    "api.sambanova.ai": "sambanova",
    "api.together.xyz": "together",
    "api.deepinfra.com": "deepinfra",
    "api.cloudflare.com": "cloudflare",
}
_AZURE_SUFFIXES = (*_FOUNDRY_HOSTS, ".models.ai.azure.com", ".inference.ai.azure.com")


def provider(provider_id: str) -> Provider:
    """The provider with this id (KeyError for an unknown id)."""
    return _BY_ID[provider_id]


def provider_for_host(host: str, port: int | None = None) -> str | None:
    """The provider a base URL's host belongs to, if it is one of the hosted ones (or Ollama's port)."""
    host = host.lower()
    if host in _HOSTS:
        return _HOSTS[host]
    if host.endswith(_AZURE_SUFFIXES):
        return "azure"
    if port == 11434:
        return "ollama"
    return None


_URL_FIELD = re.compile(r"\{([A-Z_]+)\}")
_PASTED_ACCOUNT = re.compile(r"/accounts/([^/?#\s]+)")


def _url_value(raw: str | None) -> str:
    """A setting's value as one URL path segment ("" when missing or still a placeholder); the ID out of a whole
    pasted URL (`…/accounts/<id>/ai/v1`)."""
    value = (raw or "").strip()
    pasted = _PASTED_ACCOUNT.search(value)
    if pasted:
        value = pasted.group(1)
    if not value or any(c in value for c in "<>{}…") or "..." in value or set(value) <= {"x", "X", "*", "-", "_"}:
        return ""
    return quote(value, safe="")


def missing_url_settings(p: Provider, values: Mapping[str, str]) -> tuple[str, ...]:
    """The settings `p.base_url_template` still needs ("CLOUDFLARE_ACCOUNT_ID"), in the template's order."""
    fills = dict(p.url_settings)
    return tuple(fills[name] for name in _URL_FIELD.findall(p.base_url_template)
                 if name in fills and not _url_value(values.get(fills[name])))


def fill_base_url(p: Provider, values: Mapping[str, str]) -> str:
    """`p.base_url_template` with each {NAME} filled from the setting `p.url_settings` names ("" while one is
    missing, so the page asks for it); `p.base_url` (or "") for a provider without a template.

    >>> fill_base_url(provider("cloudflare"), {"CLOUDFLARE_ACCOUNT_ID": "0123abcd"})
    'https://api.cloudflare.com/client/v4/accounts/0123abcd/ai/v1'
    """
    if not p.base_url_template:
        return p.base_url or ""
    if missing_url_settings(p, values):
        return ""
    fills = dict(p.url_settings)
    return _URL_FIELD.sub(lambda m: _url_value(values.get(fills.get(m.group(1), ""))) or m.group(0),
                          p.base_url_template)


def endpoint_from_setting(p: Provider, raw: str) -> str:
    """What a person put in `p.endpoint_name` (or typed as a base URL) as the URL the client posts to: Foundry's
    through `foundry_endpoint`, any other without surrounding space and trailing slash."""
    text = (raw or "").strip()
    return p.normalise_endpoint(text) if p.normalise_endpoint and text else text.rstrip("/")


def retired_route_message(p: Provider, status: int, message: str, endpoint: str = "") -> str | None:
    """`p.retired_route_hint` when an answer reads as "this route was retired" (404/410 saying retired or deprecated,
    about a `/models` route: in the message or the endpoint used); else None."""
    found = retired_route_msg(p, status, message, endpoint)
    return None if found is None else str(found)


def retired_route_msg(p: Provider, status: int, message: str, endpoint: str = "") -> "Msg | str | None":
    """`retired_route_message` for a page's language (`AZURE_RETIRED_ROUTE_MSG` for Foundry): render with `say`."""
    if not p.retired_route_hint or status not in (404, 410):
        return None
    low = (message or "").lower()
    if not any(word in low for word in ("retired", "retirement", "deprecated", "deprecation")):
        return None
    path = urlsplit(endpoint).path.lower().rstrip("/") + "/" if endpoint else ""
    if "/models" in low or "/models/" in path:
        return p.said("retired_route_hint")
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
    _f("llama-4-scout", "Llama 4 Scout", r"llama[-_ ]?4\b.*scout|^llama4(?::latest)?$", "json", True, 1_000_000),
    _f("llama-3.2-text", "Llama 3.2 (text)", r"llama[-_ ]?3[.-]2\b.*\b[13]b", "json", False, 128_000),
)
_FAMILY = {f.key: f for f in FAMILIES}

CHAINS: dict[str, tuple[str, ...]] = {
    "tools": ("llama-3.1-405b", "llama-3.3-70b", "llama-3.1-70b", "llama-3.1-8b"),
    "vision": ("llama-3.2-90b-vision", "llama-3.2-11b-vision", "llama-4-maverick", "llama-4-scout"),
}
"""The documented fallback chains: the model each page was built for first."""

BUILT_FOR = {"tools": "Llama 3.1 405B", "vision": "Llama 3.2 90B Vision"}

SMALLEST: dict[str, str] = {"tools": "llama-3.1-8b", "vision": "llama-3.2-11b-vision"}
"""The smallest of each page's family: Compare's default other side ("how much better is the big one?")."""


@lru_cache(maxsize=4096)
def family_of(model_id: str) -> Family | None:
    """The Llama family a model ID belongs to (on any host's spelling), or None (remembered: a page asks this of
    the same few IDs dozens of times a run, each a walk over every family's pattern)."""
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
    reason: str  # in English (tests, logs); a page shows `shown_reason`
    exact: bool = False  # the model the page was built for
    options: tuple[str, ...] = ()  # what the picker may offer, best first
    reason_msg: Msg | None = field(default=None, compare=False, repr=False)  # `reason` for the page's language

    @property
    def shown_reason(self) -> "Msg | str":
        """The reason as a page shows it (`ui.i18n.say`): its `Msg` when `pick_model` made it, else `reason`."""
        return self.reason_msg if self.reason_msg is not None else self.reason

    @property
    def label(self) -> str:
        """"Llama 3.3 70B" (or the ID when it is not a known family)."""
        return display_name(self.model) if self.model else "no model"

    @property
    def label_msg(self) -> "Msg | str":
        """`label` for a page ("no model" / "모델 없음"; a model's name as it is)."""
        return display_name(self.model) if self.model else msg("hosts.pick.no_model")


def _pick(model: str | None, reason: "Msg | str", exact: bool = False, options: tuple[str, ...] = ()) -> ModelPick:
    """A `ModelPick` whose English `reason` is `reason` rendered, keeping the `Msg` for other languages."""
    return ModelPick(model, str(reason), exact, options, reason if isinstance(reason, Msg) else None)


def _rank(candidates: Sequence[str], model_id: str) -> tuple[int, int, str]:
    lowered = [c.lower() for c in candidates]
    mid = model_id.lower()
    return (lowered.index(mid) if mid in lowered else len(lowered), len(mid), mid)


def _why_fallback(p: Provider, page: Page, fam: Family, gone: Sequence[str]) -> Msg:
    first = BUILT_FOR[page]
    retired_first = [when for m, when in p.retired
                     if (f := family_of(m)) is not None and f.key == CHAINS[page][0]]
    if page == "tools":
        then = msg("hosts.pick.using_same_format" if fam.tool_format == "builtin" else "hosts.pick.using_json_tools",
                   model_name=fam.label)
    else:
        then = msg("hosts.pick.using_smaller" if fam.key == "llama-3.2-11b-vision" else "hosts.pick.using_closest",
                   model_name=fam.label)
    if gone:
        return msg("hosts.pick.gone", gone=gone[-1], built_for=first, then=then)
    if retired_first:
        return msg("hosts.pick.retired_here", subject=p.subject_msg, built_for=first, date=retired_first[0], then=then)
    if p.local or p.base_url is None:
        return msg("hosts.pick.not_served", built_for=first, host=p.noun_msg, then=then)
    return msg("hosts.pick.not_offered", built_for=first, host=p.noun_msg, then=then)


def _limit_of(p: Provider, model_id: str, version: Sequence[int] | None) -> tuple[VersionLimit | None, bool | None]:
    """The version limit that concerns a model on this server, and whether it blocks it (see VersionLimit.blocks)."""
    for limit in p.version_limits:
        verdict = limit.blocks(model_id, version)
        if verdict is not False:
            return limit, verdict
    return None, False


def pick_model(
    p: Provider,
    page: Page,
    listed: Sequence[str] | None,
    explicit: str | None = None,
    skipped: Collection[str] = (),
    *,
    server_version: str | None = None,
) -> ModelPick:
    """Choose the model for a page: `explicit` as given; else the first of the chain the provider lists.

    `listed` is what GET /models returned (None: no listing, e.g. Foundry deployments or the listing failed);
    `skipped` are models that answered "retired" or "not found" on this server; `server_version` is what the server
    software says it is (Ollama's `GET /api/version`): a family that version can't run is never picked, and with no
    version such a family comes after every other. Models the table knows are retired (`Provider.retired`) come
    last, tried only when nothing else is listed. A host that takes no images (`accepts_images`) gets no vision model.
    """
    if page == "vision" and not p.accepts_images:
        return _pick(None, p.said("vision_hint") or msg("hosts.pick.no_images", subject=p.subject_msg))
    skip = {s.lower() for s in skipped}
    candidates = p.tools_models if page == "tools" else p.vision_models
    chain = CHAINS[page]
    retired = p.retired_on
    version = parse_version(server_version)

    def order(m: str) -> tuple[bool, bool, int, tuple[int, int, str]]:
        fam = family_of(m)
        at = chain.index(fam.key) if fam is not None and fam.key in chain else len(chain)
        return (m.lower() in retired, _limit_of(p, m, version)[1] is None, at, _rank(candidates, m))

    blocked = [m for m in (listed or ()) if fits_page(m, page) and _limit_of(p, m, version)[1] is True]
    fitting = {m for m in (listed or ()) if fits_page(m, page) and m.lower() not in skip and m not in blocked}
    ordered = sorted(fitting, key=order)
    options = tuple(ordered)
    gone = [s for s in skipped if fits_page(s, page)]

    if explicit and explicit.lower() not in skip:
        setting = "TOOLS_MODEL" if page == "tools" else "VISION_MODEL"
        why = msg("hosts.pick.explicit", model=explicit, setting=setting)
        if listed is not None and explicit.lower() not in {m.lower() for m in listed}:
            why = msg("hosts.pick.explicit_unlisted", model=explicit, setting=setting, subject=p.subject_msg)
        fam = family_of(explicit)
        exact = fam is not None and fam.key == chain[0]
        return _pick(explicit, why, exact, (explicit,) + tuple(m for m in options if m != explicit))

    if listed is None:
        usable = sorted((c for c in candidates if c.lower() not in skip and c.lower() not in retired
                         and _limit_of(p, c, version)[1] is not True),
                        key=lambda c: _limit_of(p, c, version)[1] is None)  # else the table's own order
        for cand in usable:
            fam = family_of(cand)
            exact = fam is not None and fam.key == chain[0]
            what = "deployment" if p.lists_models is False and p.endpoint_name else "model"
            key = f"hosts.pick.unlisted_{what}" + ("" if exact else "_absent")
            return _pick(cand, msg(key, model=cand, host=p.noun_msg, built_for=BUILT_FOR[page]), exact,
                         tuple(usable))
        if not candidates:
            hint = p.said("tools_hint" if page == "tools" else "vision_hint")
            kind = "text" if page == "tools" else "vision"
            return _pick(None, hint or msg(f"hosts.pick.offers_no_{kind}", subject=p.subject_msg, date=p.checked))
        return _pick(None, msg(f"hosts.pick.all_refused_{page}", host=p.noun_msg))

    if not ordered and skip and listed:
        # Every listed candidate answered "not found" / "retired" a moment ago. One odd answer must not leave every
        # visitor with no model: offer them again (the skip is a hint, and it expires anyway).
        again = pick_model(p, page, listed, explicit, (), server_version=server_version)
        if again.model:
            again_msg = msg("hosts.pick.refused_again", reason=again.shown_reason)
            return dataclasses.replace(again, reason=str(again_msg), reason_msg=again_msg)
    if not ordered:
        if blocked:
            limit = _limit_of(p, blocked[0], version)[0]
            assert limit is not None
            return _pick(None, msg("hosts.pick.cannot_run", subject=p.subject_msg, model=blocked[0],
                                   note=limit.note_msg or limit.note))
        hint = p.said("tools_hint" if page == "tools" else "vision_hint")
        kind = "text" if page == "tools" else "vision"
        return _pick(None, msg(f"hosts.pick.lists_no_{kind}" + ("_hint" if hint else ""), subject=p.subject_msg,
                               hint=hint))

    best = ordered[0]
    fam = family_of(best)
    assert fam is not None
    if best.lower() in retired:
        key = "hosts.pick.still_listed_after_gone" if gone else "hosts.pick.still_listed"
        return _pick(best, msg(key, gone=gone[-1] if gone else "", model_name=fam.label, host=p.noun_msg,
                               date=retired[best.lower()]), False, options)
    limit, verdict = _limit_of(p, best, version)
    if fam.key == chain[0]:
        why, exact = msg("hosts.pick.built_for", model_name=fam.label), True
    elif fam.key in chain:
        why, exact = _why_fallback(p, page, fam, gone), False
    else:
        why, exact = msg("hosts.pick.off_chain", host=p.noun_msg, model_name=fam.label), False
    if limit is not None and verdict is None:  # a family this server's version may not run: say what it needs
        why = msg("hosts.pick.requirement", reason=why, model_name=fam.label,
                  requires=limit.requires_msg or limit.requires)
    return _pick(best, why, exact, options)


def compare_default(options: Sequence[str], page: Page, against: str | None) -> str | None:
    """The model Compare puts beside `against` by default: the smallest of the page's family among `options`
    (Llama 3.1 8B for tools, 3.2 11B Vision for vision), else the one furthest down the page's chain; never
    `against` itself, nor a model of the same family (that would compare a model with itself)."""
    taken = family_of(against) if against else None
    chain = CHAINS[page]

    def rank(m: str) -> tuple[int, int]:
        fam = family_of(m)
        if fam is None or fam.key not in chain:
            return (2, 0)
        return (0 if fam.key == SMALLEST[page] else 1, -chain.index(fam.key))

    candidates = [m for m in options if m != against and fits_page(m, page)
                  and (taken is None or family_of(m) != taken) and rank(m)[0] < 2]
    return min(candidates, key=rank) if candidates else None


def next_model(p: Provider, page: Page, listed: Sequence[str] | None, current: str,
               skipped: Collection[str], *, server_version: str | None = None) -> str | None:
    """The model to try after `current` answered "retired" / "not found" (None: nothing left)."""
    pick = pick_model(p, page, listed, None, {*skipped, current}, server_version=server_version)
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
    text = f"{name} on {provider}" if provider and provider != NO_PROVIDER else name
    return text + (f" (asked for {asked})" if served_model and name != asked else "")


def host_msg(label: str) -> "Msg | str":
    """A host's label as a turn keeps it (English: "vLLM or another server you run") in a page's language: a known
    provider's `label_msg`, any other label (an operator's own name) as it is."""
    return next((p.label_msg for p in PROVIDERS if label and p.label == label), label)


def answered_by_msg(model: str, served_model: str, provider: "Msg | str") -> "Msg | str":
    """`answered_by` for a page's language ("Ollama의 Llama 3.1 8B"); `provider` a `Provider.label_msg` or a label as
    a turn keeps it (`host_msg`)."""
    if isinstance(provider, str):
        provider = host_msg(provider)
    asked: Msg | str = display_name(model) if model else msg("hosts.answered.the_model")
    name: Msg | str = display_name(served_model) if served_model else asked
    differs = bool(served_model) and str(name) != str(asked)
    if provider and str(provider) != NO_PROVIDER:
        return msg("hosts.answered.on_asked" if differs else "hosts.answered.on", model_name=name, provider=provider,
                   asked_name=asked)
    return msg("hosts.answered.asked", model_name=name, asked_name=asked) if differs else name
