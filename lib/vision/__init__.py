"""Llama 3.2 Vision reading a photo: `images` prepares it once (checks, orientation, size, re-encoding), `tasks`
holds what can be asked (presets, detail levels, samples, the English check, one request's messages),
`conversation` the page's state as plain data, and `answer` streams one vision answer (one image per request).

Imports `lib.client`, `lib.hosts` and `lib.common`; never `lib.answers`, `lib.tool_calling` or `ui`.
"""
