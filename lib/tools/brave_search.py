"""brave_search: web search via the Brave Search API, or Wikipedia search when no key is set."""
from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from lib.i18n import msg

from .base import (
    CallContext,
    Outcome,
    ToolConfig,
    ToolFailure,
    ToolSpec,
    ToolStatus,
    endpoint_msg,
    get_json,
    strip_html,
)

if TYPE_CHECKING:
    import requests

SPEC = ToolSpec(
    name="brave_search",
    title="Web search (Brave)",
    description="Search the web for current information; returns the top results with title, URL and snippet.",
    parameters={
        "type": "object",
        "properties": {"query": {"type": "string", "description": "What to search for"}},
        "required": ["query"],
    },
    builtin=True,
    online=True,
)
ALIASES = {"q": "query", "search": "query", "search_query": "query"}

BRAVE = "Brave Search API"
WIKI = "Wikipedia search (fallback)"
RESULT_COUNT = 5


def source(config: ToolConfig) -> tuple[str, bool]:
    """(source label, fallback?) this configuration uses."""
    return (BRAVE, False) if config.brave_api_key else (WIKI, True)


def status(config: ToolConfig) -> ToolStatus:
    """Brave with a key, Wikipedia without."""
    default = ToolConfig()
    if config.brave_api_key:
        note = endpoint_msg(config.brave_search_url, default.brave_search_url)
        return ToolStatus.said(True, False, msg("toolnotes.status.brave_key", endpoint=note))
    note = endpoint_msg(config.wikipedia_search_url, default.wikipedia_search_url)
    return ToolStatus.said(True, True, msg("toolnotes.status.brave_none", endpoint=note))


def call(arguments: dict, ctx: CallContext) -> Outcome:
    """Run the search; Brave when a key is configured, else Wikipedia."""
    query = arguments["query"].strip()
    if ctx.config.brave_api_key:
        return _brave(query, ctx)
    return _wikipedia(query, ctx)


def _brave_error(response: requests.Response, shown: str) -> ToolFailure | None:
    code = response.status_code
    if code in (401, 403) or (code == 422 and b"TOKEN" in response.content.upper()):
        return ToolFailure(f"Brave Search rejected the API key ({code})", BRAVE, False, shown)
    if code == 429:
        return ToolFailure(
            "Brave Search rate limit reached (429): the plan's quota is used up, try again later",
            BRAVE, False, shown,
        )
    return None


def _brave(query: str, ctx: CallContext) -> Outcome:
    config = ctx.config
    data, shown = get_json(
        ctx,
        config.brave_search_url,
        params={"q": query, "count": RESULT_COUNT},
        service="Brave Search",
        source=BRAVE,
        headers={"Accept": "application/json", "X-Subscription-Token": config.brave_api_key or ""},
        on_error=_brave_error,
    )
    web = data.get("web") if isinstance(data, dict) else None
    if web is None and isinstance(data, dict) and data.get("type") == "search":
        return Outcome(f"No web results for {query!r}.", BRAVE, False, shown)
    results = web.get("results") if isinstance(web, dict) else None
    if not isinstance(results, list):
        raise ToolFailure(
            "Brave Search returned an unexpected response (no web.results)", BRAVE, False, shown
        )
    lines = []
    for item in results:
        if not isinstance(item, dict):
            continue
        title = strip_html(str(item.get("title") or "(untitled)"))
        link = str(item.get("url") or "")
        snippet = strip_html(str(item.get("description") or ""))
        lines.append(_entry(len(lines) + 1, title, link, snippet))
        if len(lines) == RESULT_COUNT:
            break
    if not lines:
        return Outcome(f"No web results for {query!r}.", BRAVE, False, shown)
    return Outcome("\n".join(lines), BRAVE, False, shown)


def _wikipedia(query: str, ctx: CallContext) -> Outcome:
    data, shown = get_json(
        ctx,
        ctx.config.wikipedia_search_url,
        params={"q": query, "limit": RESULT_COUNT},
        service="Wikipedia search",
        source=WIKI,
        fallback=True,
        headers={"Accept": "application/json"},
    )
    pages = data.get("pages") if isinstance(data, dict) else None
    if not isinstance(pages, list):
        raise ToolFailure(
            "Wikipedia search returned an unexpected response (no pages)", WIKI, True, shown
        )
    base = _article_base(ctx.config.wikipedia_search_url)
    lines = []
    for page in pages:
        if not isinstance(page, dict):
            continue
        title = strip_html(str(page.get("title") or "(untitled)"))
        key = str(page.get("key") or title).replace(" ", "_")
        link = base + quote(key, safe="/_(),:'!*-.~")
        parts = [strip_html(str(page.get(f) or "")) for f in ("description", "excerpt")]
        snippet = " — ".join(p for p in parts if p)
        lines.append(_entry(len(lines) + 1, title, link, snippet))
        if len(lines) == RESULT_COUNT:
            break
    if not lines:
        return Outcome(f"No Wikipedia articles match {query!r}.", WIKI, True, shown)
    return Outcome(
        "Results from Wikipedia (web search is not configured):\n" + "\n".join(lines),
        WIKI, True, shown,
    )


def _entry(number: int, title: str, link: str, snippet: str) -> str:
    head = f"{number}. {title} — {link}" if link else f"{number}. {title}"
    return f"{head}\n   {snippet}" if snippet else head


def _article_base(search_url: str) -> str:
    """https://<wiki host>/wiki/ for a REST search URL (keeps other-language wikis right)."""
    marker = "/w/rest.php"
    if marker in search_url:
        return search_url.split(marker, 1)[0] + "/wiki/"
    return "https://en.wikipedia.org/wiki/"
