"""A question typed into a tab whose server restarted (or whose room process failed over) is asked, not dropped.

The tools page's chat box is drawn by a fragment (a typed question reruns only the conversation). A tab that
reconnects to a new session still sends its typed question as a rerun of that fragment, and a session that has not
registered it yet — nothing has run in it, or its first run has not reached the fragment — drops the request without
a word (`AppSession.request_rerun`: "The fragment with id … does not exist anymore"): the question is gone and the
box stays disabled. Streamlit has no setting for this, so `keep_first_questions()` wraps that method once per
process: such a rerun runs the whole page instead, with the same widget values, and the page asks the question.
Once a session has rerun a fragment it knows, Streamlit's behaviour holds (a rerun of a fragment that a full run
removed is dropped).

Imports only Streamlit: app.py calls it first, before the page's own imports, so under `streamlit run app.py` the
wrapper exists in a process once any of its sessions has started a run (a reconnecting tab's page is rerun by
Streamlit's frontend, which installs it). `python -m deploy.serve` (how `deploy.room` starts its processes) calls it
before Streamlit serves anything, so even a question that is a brand-new process's very first message is asked.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_MARK = "_llama_herd_keeps_first_questions"


def keep_first_questions() -> None:
    """Wrap `AppSession.request_rerun` (idempotent, thread-safe)."""
    from streamlit.runtime.app_session import AppSession

    with _lock:
        if getattr(AppSession.request_rerun, _MARK, False):
            return
        original = AppSession.request_rerun

        def request_rerun(self: Any, client_state: Any = None) -> None:
            fragment_id = getattr(client_state, "fragment_id", "") if client_state is not None else ""
            if fragment_id:
                if self.has_fragment(fragment_id):
                    setattr(self, _MARK, True)  # this session knows its fragments: Streamlit's rules from now on
                elif not getattr(self, _MARK, False):
                    whole = type(client_state)()
                    whole.CopyFrom(client_state)
                    whole.ClearField("fragment_id")
                    client_state = whole
            original(self, client_state)

        setattr(request_rerun, _MARK, True)
        request_rerun.__doc__ = original.__doc__
        AppSession.request_rerun = request_rerun  # type: ignore[method-assign]
