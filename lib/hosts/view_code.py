"""'View code': the Python that reproduces a request with azure-ai-inference, in the style of the SDK's samples.

The snippet sends what the app sent: the same model, messages and every body parameter (`max_tokens`,
`temperature`, `top_p` and `tools` when set, and `model_extras`: the `stream_options` the app's streaming client adds
and a host's own fields such as vLLM's `chat_template_kwargs`). `TEMPERATURE` and `MAX_TOKENS` are the app's own
defaults, used by the tool loop and the vision answer alike.

The key is never written into the code: the snippet reads the provider's own key variable from the environment
(`OPENROUTER_API_KEY`, `NVIDIA_API_KEY`, …); Ollama and keyless servers need none. An endpoint that comes from a
setting is read from it too: Foundry's `AZURE_AI_CHAT_ENDPOINT` (its OpenAI v1 route,
`https://<resource>.openai.azure.com/openai/v1`), Cloudflare's URL built from `CLOUDFLARE_ACCOUNT_ID`. Images are not
inlined (a base64 photo would be pages long): the snippet loads them from a file with the SDK's own helper.
"""

from __future__ import annotations

import json
import re
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit

from lib.hosts.providers import provider as provider_entry

TEMPERATURE = 0.2
"""The temperature every model request of the app sends (the tool loop and the vision answer)."""
MAX_TOKENS = 1024
"""The answer length every model request of the app asks for at most."""
STREAM_OPTIONS = {"include_usage": True}
"""What the app's streaming client adds to every streamed request (lib.client), so the server reports the tokens."""

_HEADER = '''import os

from azure.ai.inference import ChatCompletionsClient
from azure.ai.inference.models import (
    AssistantMessage,
    ChatCompletionsToolCall,
    FunctionCall,
    ImageContentItem,
    ImageDetailLevel,
    ImageUrl,
    SystemMessage,
    TextContentItem,
    ToolMessage,
    UserMessage,
)
from azure.core.credentials import AzureKeyCredential

{connection}
client = ChatCompletionsClient(endpoint=endpoint, credential=credential)
'''


def _lit(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _message(m: dict[str, Any]) -> str:
    role = m.get("role")
    content = m.get("content")
    if isinstance(content, list):
        parts = []
        for p in content:
            if p.get("type") == "text":
                parts.append(f"TextContentItem(text={_lit(str(p.get('text', '')))})")
            elif p.get("type") == "image_url":
                image = p.get("image_url") or {}
                detail = str(image.get("detail") or "auto").upper()
                fmt = "png" if str(image.get("url", "")).startswith("data:image/png") else "jpeg"
                parts.append(
                    f'ImageContentItem(image_url=ImageUrl.load(image_file="photo.{"png" if fmt == "png" else "jpg"}", '
                    f'image_format="{fmt}", detail=ImageDetailLevel.{detail}))'
                )
        return "UserMessage(content=[\n            " + ",\n            ".join(parts) + ",\n        ])"
    text = _lit(str(content or ""))
    if role == "system":
        return f"SystemMessage({text})"
    if role == "assistant" and m.get("tool_calls"):
        calls = [
            f"ChatCompletionsToolCall(id={_lit(str(c.get('id', 'call_0')))}, function=FunctionCall("
            f"name={_lit(str(c['function']['name']))}, arguments={_lit(str(c['function']['arguments']))}))"
            for c in m["tool_calls"]
        ]
        return "AssistantMessage(tool_calls=[" + ", ".join(calls) + "])"
    if role == "assistant":
        return f"AssistantMessage({text})"
    if role == "tool":
        return f"ToolMessage({text}, tool_call_id={_lit(str(m.get('tool_call_id', 'call_0')))})"
    return f"UserMessage({text})"


def _connection(endpoint: str, model: str, provider_id: str, has_key: bool) -> str:
    """The endpoint, model and key lines: the provider's own variable names, never a value."""
    lines = []
    p = provider_entry(provider_id) if provider_id else None
    template = p.base_url_template if p is not None else ""
    if p is not None and p.endpoint_name and p.normalise_endpoint is not None:
        # Foundry: the resource's OpenAI v1 route (the /models route azure-ai-inference was built for was retired).
        lines.append(f'endpoint = os.environ["{p.endpoint_name}"]  # {p.endpoint_example or "your endpoint"}'
                     + (" (not the retired …/models form)" if p.retired_route_hint else ""))
    elif p is not None and template and urlsplit(template).hostname == urlsplit(endpoint).hostname:
        # A URL with a value in it (Cloudflare's account ID): built from the same settings the app reads.
        fills = dict(p.url_settings)
        built = re.sub(r"\{([A-Z_]+)\}", lambda m: "{os.environ[" + repr(fills.get(m.group(1), m.group(1))) + "]}",
                       template)
        lines.append(f'endpoint = f"{built}"  # {p.label}')
    else:
        lines.append(f"endpoint = {_lit(endpoint)}" + (f"  # {p.label}" if p is not None else ""))
    lines.append(f"model = {_lit(model)}")
    if p is not None and p.key_names and (has_key or p.key_required):
        lines.append(f'credential = AzureKeyCredential(os.environ["{p.key_names[0]}"])  # never paste a key into code')
    else:
        lines.append('credential = AzureKeyCredential("unused")  # this server needs no key')
    return "\n".join(lines) + "\n"


def request_params(
    *,
    max_tokens: int | None = MAX_TOKENS,
    temperature: float | None = TEMPERATURE,
    top_p: float | None = None,
    tools: Sequence[dict[str, Any]] | None = None,
    extra: Mapping[str, Any] | None = None,
    streamed: bool = True,
) -> dict[str, Any]:
    """The body parameters a request sends besides `messages` and `stream`, as the server receives them (the SDK puts
    `model_extras` at the top level of the body): `max_tokens` (lib.client's default when None), `temperature` and
    `top_p` when set, `tools` when any, `stream_options` for a streamed request, then the host's own `extra` fields.

    >>> request_params(extra={"chat_template_kwargs": {"date_string": "01 December 2026"}})
    {'max_tokens': 1024, 'temperature': 0.2, 'stream_options': {'include_usage': True}, \
'chat_template_kwargs': {'date_string': '01 December 2026'}}
    """
    params: dict[str, Any] = {"max_tokens": max_tokens or MAX_TOKENS}
    if temperature is not None:
        params["temperature"] = temperature
    if top_p is not None:
        params["top_p"] = top_p
    if tools:
        params["tools"] = [dict(t) for t in tools]
    if streamed:
        params["stream_options"] = dict(STREAM_OPTIONS)
    params.update(dict(extra or {}))
    return params


_FIRST_CLASS = ("max_tokens", "temperature", "top_p", "tools")  # keyword arguments of ChatCompletionsClient.complete


def python_snippet(
    endpoint: str,
    model: str,
    messages: Sequence[dict[str, Any]],
    *,
    max_tokens: int | None = MAX_TOKENS,
    temperature: float | None = TEMPERATURE,
    top_p: float | None = None,
    tools: Sequence[dict[str, Any]] | None = None,
    extra: Mapping[str, Any] | None = None,
    provider_id: str = "",
    has_key: bool = False,
) -> str:
    """Runnable Python for this request (streamed), reading the provider's key variable from the environment.

    Every body parameter the app sent is written with its value (`request_params()`): the SDK's own keyword
    arguments as such, the rest (`stream_options`, a host's `chat_template_kwargs`) in `model_extras`, which the SDK
    sends in the body as they are."""
    body = ",\n        ".join(_message(m) for m in messages)
    params = request_params(max_tokens=max_tokens, temperature=temperature, top_p=top_p, tools=tools, extra=extra)
    lines = [f"    {name}={params[name]!r},\n" for name in _FIRST_CLASS if name in params]
    extras = {k: v for k, v in params.items() if k not in _FIRST_CLASS}
    if extras:
        lines.append(f"    model_extras={extras!r},  # sent in the body as they are\n")
    return (
        _HEADER.format(connection=_connection(endpoint, model, provider_id, has_key))
        + "\nresponse = client.complete(\n"
        + "    stream=True,\n"
        + f"    messages=[\n        {body},\n    ],\n"
        + "    model=model,\n"
        + "".join(lines)
        + ")\n\n"
        + "for update in response:\n"
        + "    if update.choices and update.choices[0].delta.content:\n"
        + '        print(update.choices[0].delta.content, end="")\n'
        + "print()\n"
    )
