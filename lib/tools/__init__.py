"""Tools Llama 3.1 can call: built-ins (brave_search, wolfram_alpha, code_interpreter) and custom JSON tools.

Public API::

    from lib.tools import TOOLS, ToolConfig, run, status, meta_definitions
    config = ToolConfig.from_lookup(os.environ.get)
    result = run("get_weather", {"city": "Stockholm"}, config)   # never raises
    result.content   # what the model receives (size-capped, no keys)

Each tool lives in its own module with a SPEC, a `status(config)` and a `call(arguments, ctx)`; a new tool is a
module here plus a line in `registry.py`. The package imports nothing of ours outside `lib/tools/` but `lib.i18n`:
what the page shows of a tool (its status line and description, a call's summary, source and failure) is also a
`lib.i18n.Msg` (`ToolStatus.msg`, `description_msg`, `result_summary_msg`, `source_msg`, `failure_msg`), said in the
page's language.
"""
from __future__ import annotations

from .base import ToolConfig, ToolResult, ToolSpec, ToolStatus, failure_msg, source_msg
from .registry import (TOOLS, description_msg, meta_definitions, result_summary, result_summary_msg, run,
                       stage_status, status)

__all__ = [
    "TOOLS",
    "ToolConfig",
    "ToolResult",
    "ToolSpec",
    "ToolStatus",
    "description_msg",
    "failure_msg",
    "meta_definitions",
    "result_summary",
    "result_summary_msg",
    "source_msg",
    "stage_status",
    "run",
    "status",
]
