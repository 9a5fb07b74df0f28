"""Record a rehearsal, replay it on stage: venue Wi-Fi and a spent quota can't break the demo.

`Rehearsal` is a `lib.dedupe.Dedupe` whose store never expires and replays at the recorded pace. While recording,
every request goes live (and through the shared dedupe cache) and each answer that arrived whole is kept, with the
results of the keyed tools; while replaying, a request seen in the rehearsal is answered from it, labelled
`REPLAYED_LABEL`, and anything new goes live. Requests match by provider, model, messages and parameters, not by
endpoint (the stage's network may differ) nor by the "Today Date:" line (a rehearsal is usually the day before).
The recording is a JSON file the presenter keeps (`to_json(secrets)` / `from_json`), with every secret redacted.
A file over what the store holds (lib.replay.MAX_FILE_BYTES, 20 MB) is refused before it is read.

    rehearsal = Rehearsal()
    opener = rehearsal.opener(mode="record")         # or "replay"; pass to tool_loop.run_turn(open_stream=...)
"""

from __future__ import annotations

import re
from typing import Any, Callable, Literal, Mapping, Sequence

from lib.dedupe import DEDUPE, Dedupe
from lib.replay import ReplayStore, fingerprint

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


class Rehearsal(Dedupe):
    """One presenter's recording: unbounded in time, bounded in size, replayed at the recorded pace."""

    def __init__(self) -> None:
        super().__init__(ReplayStore(max_entries=500, max_bytes=20_000_000, ttl_s=None), speed=1.0, max_gap_s=2.0)

    def __len__(self) -> int:
        return len(self.store)

    @staticmethod
    def key(provider: str, model: str, messages: Sequence[Any], params: Mapping[str, Any] | None = None) -> str:
        """Provider id (not the endpoint), model, undated messages, parameters (a template's date_string blanked)."""
        return fingerprint(provider.split("|", 1)[0], model, _undated(messages), _undated_params(params))

    def opener(self, mode: Mode, *, fresh: bool = False) -> Callable[..., Any]:
        """`open_stream(settings, model, messages, max_tokens=, temperature=)` for this mode.

        "off": the shared dedupe cache only; "record": always live (through the cache), kept here; "replay":
        from here when seen, else live. `fresh` skips both caches ("Ask again (fresh)").
        """

        def open_stream(settings: Any, model: str, messages: Sequence[Any], *, max_tokens: int | None = None,
                        temperature: float | None = None, extra: Mapping[str, Any] | None = None) -> Any:
            def live() -> Any:
                return DEDUPE.chat_stream(settings, model, messages, max_tokens=max_tokens,
                                          temperature=temperature, fresh=fresh, extra=extra)

            if mode == "off":
                return live()
            return self.chat_stream(settings, model, messages, max_tokens=max_tokens, temperature=temperature,
                                    fresh=fresh or mode == "record", open_live=live, extra=extra)

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
    """"rehearsal" / "cache" / "" for a stream that was replayed, and from where (looking through layers)."""
    for _ in range(3):
        if stream is None:
            return ""
        if getattr(stream, "cached", False):
            return "rehearsal" if isinstance(getattr(stream, "_dedupe", None), Rehearsal) else "cache"
        stream = getattr(stream, "live", None)
    return ""
