"""The library contract's path (`../shared/DESIGN.md`): Llama's tool format lives in `lib.tool_calling.llama_prompt`.

Tests outside this project import `lib.llama_prompt.parse_tool_call` and `build_system_prompt`; this module only
re-exports that module's public names. Code in this project imports `lib.tool_calling.llama_prompt` itself.
"""

from lib.tool_calling.llama_prompt import *  # noqa: F401,F403
from lib.tool_calling.llama_prompt import ToolCall, build_system_prompt, parse_tool_call, parse_tool_calls  # noqa: F401
