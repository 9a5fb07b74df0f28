"""What a person sees, shared by app.py and the pages: Streamlit views over `lib`, one module per thing on screen.

A `ui` module imports `lib` and the `ui` modules named after it in brackets below (each from a line above its own),
never `pages` or `app`; every import of ours is at the top of its module, with no cycle (tests/test_architecture.py).
Every module that writes words takes them from `i18n` (`t()`: lib/i18n/<language>/<area>.toml), not named below:

    i18n          the session's language (?lang=ko, the sidebar's switch, the browser's) and `t()`, every word shown
    a11y          the skip link, the conversation landmark, the announced answer, theme-proof colours, <html lang>
    presenter     presenter mode and the app's look (a11y)          state   what outlives a page switch and a reload
    crash         the message instead of a traceback                shell   the pages and the navigation
    meter         this tab's request count and the quota lines, what a run passes on (state)
    rehearsal     the replay cache toggle, Record / Replay, how a page opens a stream or runs a tool (meter, state)
    connection    which host, endpoint, key and model this session uses (rehearsal, meter, state)
    conversation  the streamed answer, its progress line, an error, "Show earlier turns" (presenter)
    sidebar       "Where Llama runs", Connection settings, the Requests meter, setup help (connection, rehearsal,
                  meter, presenter)
    tool_views    how a tool-calling turn looks (connection, conversation, presenter)
    sharing       the Share link and the read-only view it opens (tool_views, state)
    compare       one question to two models side by side: the switch, the other side's model, the two columns
                  (tool_views, conversation, connection, rehearsal, meter, presenter, state)
"""
