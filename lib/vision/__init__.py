"""Llama 3.2 Vision reading a photo: `images` prepares it once (checks, orientation, size, re-encoding), `tasks`
holds what can be asked (presets, detail levels, samples, the English check, one request's messages),
`conversation` the page's state as plain data, `answer` streams one vision answer (one image per request), `crop`
words what the model sees and cuts a region, and `translate` asks a Korean question in English and answers it in
Korean (three requests). The words they give the page are the catalogue's (`lib/i18n/<lang>/vision.toml`).

Imports `lib.client`, `lib.hosts`, `lib.common` and `lib.i18n`; never `lib.answers`, `lib.tool_calling` or `ui`.
"""
