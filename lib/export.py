"""'View code': the Python that reproduces a request with azure-ai-inference, in the style of GitHub's samples.

The token is never written into the code: the snippet reads it from the environment. Images are not inlined
(a base64 photo would be pages long): the snippet loads them from a file with the SDK's own helper.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

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

endpoint = {endpoint}
model = {model}
token = os.environ["GITHUB_TOKEN"]  # never paste a token into code

client = ChatCompletionsClient(endpoint=endpoint, credential=AzureKeyCredential(token))
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


def python_snippet(endpoint: str, model: str, messages: Sequence[dict[str, Any]], *, max_tokens: int = 1024) -> str:
    """Runnable Python for this request (streamed), reading the token from GITHUB_TOKEN."""
    body = ",\n        ".join(_message(m) for m in messages)
    return (
        _HEADER.format(endpoint=_lit(endpoint), model=_lit(model))
        + "\nresponse = client.complete(\n"
        + "    stream=True,\n"
        + f"    messages=[\n        {body},\n    ],\n"
        + f"    model=model,\n    max_tokens={max_tokens},\n)\n\n"
        + "for update in response:\n"
        + "    if update.choices and update.choices[0].delta.content:\n"
        + '        print(update.choices[0].delta.content, end="")\n'
        + "print()\n"
    )
