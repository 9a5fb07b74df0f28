"""Tools Llama 3.1 can call: built-ins (brave_search, wolfram_alpha, code_interpreter) and custom JSON tools.

Public API::

    from lib.tools import TOOLS, ToolConfig, run, status, meta_definitions
    config = ToolConfig.from_lookup(os.environ.get)
    result = run("get_weather", {"city": "Stockholm"}, config)   # never raises
    result.content   # what the model receives (size-capped, no keys)

Each tool lives in its own module with a SPEC, a `status(config)` and a `call(arguments, ctx)`; a new tool is a
module here plus a line in `registry.py`. The package imports nothing of ours outside `lib/tools/`.
"""
from __future__ import annotations

from .base import ToolConfig, ToolResult, ToolSpec, ToolStatus
from .registry import TOOLS, meta_definitions, result_summary, run, stage_status, status

__all__ = [
    "TOOLS",
    "ToolConfig",
    "ToolResult",
    "ToolSpec",
    "ToolStatus",
    "meta_definitions",
    "result_summary",
    "stage_status",
    "run",
    "status",
]
