"""Record a rehearsal, replay it on stage: venue Wi-Fi and a spent quota can't break the demo.

`Rehearsal` is a `lib.answers.cache.Dedupe` whose store never expires and replays at the recorded pace. While recording,
every request goes live (and through the shared dedupe cache) and each answer that arrived whole is kept, with the
result of every tool call (the clock's too: a different time would make the next request a different one), and
what it was made with (`pins`: each page's model per provider, the tools of the tool turn); while replaying, a
request seen in the rehearsal is answered from it, labelled `REPLAYED_LABEL`, and anything new goes live. Requests
match by provider, model, messages and parameters, not by endpoint (the stage's network may differ) nor by the
"Today Date:" line (a rehearsal is usually the day before). The page replays with the pinned model and tools, so
a model listing that can't be read on stage (no network) doesn't make the same question a different request.
The recording is a JSON file the presenter keeps (`to_json(secrets)` / `from_json`), with every secret redacted.
A file over what the store holds (lib.answers.recording.MAX_FILE_BYTES, 20 MB) is refused before it is read.

    rehearsal = Rehearsal()
    opener = rehearsal.opener(mode="record", tools=["brave_search"])   # pass to tool_loop.run_turn(open_stream=...)
    rehearsal.pinned_model("openrouter", "tools")    # on stage: the model to replay with
"""

from __future__ import annotations

import re
from typing import Any, Callable, Literal, Mapping, Sequence

from lib.answers.cache import DEDUPE, Dedupe
from lib.answers.recording import PIN_PAGES, ReplayStore, ToolRecording, fingerprint

REPLAYED_LABEL = "Replayed from rehearsal"
Mode = Literal["off", "record", "replay"]
_TODAY = re.compile(r"^Today Date: .*$", re.MULTILINE)


def _undated(messages: Sequence[Any]) -> list[Any]:
    """Messages with the system prompt's "Today Date:" line blanked (it changes every day)."""
    out = []
    for m in messages:
        if isinstance(m, Mapping) and m.get("role") == "system" and isinstance(m.get("content"), str):
            m = {**m, "content": _TODAY.sub("Today Date: -", m["content"])}
        out.append(m)
    return out


def _undated_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Parameters with `chat_template_kwargs.date_string` blanked: the server writes it as the "Today Date:" line."""
    out = dict(params or {})
    kwargs = (out.get("extra") or {}).get("chat_template_kwargs") if isinstance(out.get("extra"), Mapping) else None
    if isinstance(kwargs, Mapping) and "date_string" in kwargs:
        out["extra"] = {**out["extra"], "chat_template_kwargs": {**kwargs, "date_string": "-"}}
    return out


def _has_image(messages: Sequence[Any]) -> bool:
    """Whether a request carries a picture (the vision page's requests all do; the tool page's never)."""
    for m in messages:
        content = m.get("content") if isinstance(m, Mapping) else getattr(m, "content", None)
        if isinstance(content, (list, tuple)) and any(
                (p.get("type") if isinstance(p, Mapping) else getattr(p, "type", None)) in ("image_url", "image")
                for p in content):
            return True
    return False


class Rehearsal(Dedupe):
    """One presenter's recording: unbounded in time, bounded in size, replayed at the recorded pace.

    Besides the answers it keeps what they were recorded with (`pins`): the model each page used at each provider
    and the tools a tool turn had switched on. On stage the page uses that model whatever the model listing says
    (or whether it can be read at all), and offers those tools, so the same question is the same request."""

    tool_source_note = " (replayed from rehearsal)"
    source = "rehearsal"

    def __init__(self) -> None:
        super().__init__(ReplayStore(max_entries=500, max_bytes=20_000_000, ttl_s=None), speed=1.0, max_gap_s=2.0)
        self._models: dict[str, dict[str, str]] = {}  # provider id -> page -> model
        self._tools: tuple[str, ...] | None = None  # the tools of the latest tool turn recorded

    def __len__(self) -> int:
        return len(self.store)

    # what the recording was made with

    def pinned_model(self, provider_id: str, page: str) -> str | None:
        """The model `page` ("tools" / "vision") was recorded with at this provider (None: not recorded there)."""
        with self._lock:
            return self._models.get(provider_id.split("|", 1)[0], {}).get(page)

    @property
    def pinned_tools(self) -> tuple[str, ...] | None:
        """The tools switched on for the latest tool turn recorded (None: no tool turn recorded)."""
        with self._lock:
            return self._tools

    @property
    def pins(self) -> dict[str, Any]:
        """What the recording was made with, as saved in its file (see `lib.answers.recording.parse_pins`)."""
        with self._lock:
            out: dict[str, Any] = {}
            if self._models:
                out["models"] = {pid: dict(pages) for pid, pages in self._models.items()}
            if self._tools is not None:
                out["tools"] = list(self._tools)
            return out

    def pin(self, provider_id: str, page: str, model: str, tools: Sequence[str] | None = None) -> None:
        """Note that `page` used `model` at this provider (and, for a tool turn, these tools)."""
        if page not in PIN_PAGES or not provider_id or not model:
            return
        with self._lock:
            self._models.setdefault(provider_id.split("|", 1)[0], {})[page] = model
            if page == "tools" and tools is not None:
                self._tools = tuple(tools)

    def _add_pins(self, pins: Mapping[str, Any]) -> None:
        with self._lock:
            for pid, pages in (pins.get("models") or {}).items():
                self._models.setdefault(pid, {}).update(pages)
            if pins.get("tools") is not None:
                self._tools = tuple(pins["tools"])

    def clear(self) -> None:
        """Forget every recording and what it was made with."""
        super().clear()
        with self._lock:
            self._models.clear()
            self._tools = None

    def to_json(self, secrets: Sequence[str] = ()) -> str:
        """The rehearsal file: every recording and its pins, secrets redacted."""
        return self.store.to_json(secrets, pins=self.pins)

    def from_json(self, text: str | bytes) -> int:
        """Add a rehearsal file's recordings and pins (all or nothing; ReplayError otherwise); how many were read."""
        n, pins = self.store.load_json(text)
        self._add_pins(pins)
        return n

    # tool results: every tool, whatever it costs (the clock's answer must replay too, or the next request differs)

    def lookup_tool(self, name: str, arguments: Mapping[str, Any]) -> ToolRecording | None:
        """The recorded result of this call (any tool)."""
        entry = self.store.lookup_tool(name, arguments)
        if entry is not None:
            with self._lock:
                self.tool_hits += 1
        return entry

    def record_tool(self, result: Any) -> bool:
        """Keep this tool result as it came (any tool, failures too: the rehearsed answer was made from it)."""
        return self.store.record_tool_result(result)

    @staticmethod
    def key(provider: str, model: str, messages: Sequence[Any], params: Mapping[str, Any] | None = None) -> str:
        """Provider id (not the endpoint), model, undated messages, parameters (a template's date_string blanked)."""
        return fingerprint(provider.split("|", 1)[0], model, _undated(messages), _undated_params(params))

    def opener(self, mode: Mode, *, fresh: bool = False, tools: Sequence[str] | None = None,
               side: str = "") -> Callable[..., Any]:
        """`open_stream(settings, model, messages, max_tokens=, temperature=)` for this mode.

        "off": the shared dedupe cache only; "record": always live (through the cache), kept here; "replay":
        from here when seen, else live. `fresh` skips both caches ("Ask again (fresh)"). `tools`: the tools
        switched on for this turn, pinned with a tool turn's recording. `side` "compare": Compare's other side,
        whose model is pinned apart ("tools_compare" / "vision_compare"), so the page's own pin stays its model.
        """
        chosen = tuple(tools) if tools is not None else None

        def open_stream(settings: Any, model: str, messages: Sequence[Any], *, max_tokens: int | None = None,
                        temperature: float | None = None, extra: Mapping[str, Any] | None = None) -> Any:
            def live() -> Any:
                return DEDUPE.chat_stream(settings, model, messages, max_tokens=max_tokens,
                                          temperature=temperature, fresh=fresh, extra=extra)

            if mode == "off":
                return live()
            page = "vision" if _has_image(messages) else "tools"
            pid = str(getattr(settings, "provider_id", "") or "")

            def kept(_recording: Any) -> None:
                if side == "compare":
                    self.pin(pid, f"{page}_compare", model)
                else:
                    self.pin(pid, page, model, chosen if page == "tools" else None)

            return self.chat_stream(settings, model, messages, max_tokens=max_tokens, temperature=temperature,
                                    fresh=fresh or mode == "record", open_live=live, extra=extra,
                                    on_recorded=kept if mode == "record" else None)

        return open_stream

    def tool_runner(self, run_tool: Callable[..., Any], mode: Mode = "replay") -> Callable[..., Any]:  # type: ignore[override]
        """Tool calls: replayed from the rehearsal when seen (replay mode), recorded otherwise."""
        cached = DEDUPE.tool_runner(run_tool)
        if mode == "off":
            return cached
        if mode == "record":
            def recording(call: Any, tool_names: Sequence[str], config: Any) -> Any:
                result = run_tool(call, tool_names, config)
                if call.name in tool_names:
                    self.record_tool(result)
                return result
            return recording
        return Dedupe.tool_runner(self, cached)


def label_of(stream: Any) -> str:
    """"rehearsal" / "cache" / "" for a stream that was replayed, and from where (looking through layers).

    The tool loop and the vision answer read the same thing as `stream.replayed_from` without importing this
    package: they only get a stream opener, and a live client stream has no such attribute."""
    label = getattr(stream, "replayed_from", "")
    return label if isinstance(label, str) else ""
