"""Anything a page did not catch shows one clear sentence, not a traceback, and logs no key."""

from __future__ import annotations

import logging

import pytest
from streamlit.testing.v1 import AppTest

from lib.common import redact

SCRIPT = """
import streamlit as st
from ui import crash
with crash.guard():
    st.title("Before the crash")
    raise RuntimeError("boom with key sk-or-v1-crash-secret-123456")
st.caption("the sidebar and the rest of the app still draw")
"""


@pytest.mark.real_crash_handler
def test_an_uncaught_error_shows_a_clear_message_and_the_log_has_no_key(caplog: pytest.LogCaptureFixture) -> None:
    redact.register("sk-or-v1-crash-secret-123456")
    at = AppTest.from_string(SCRIPT, default_timeout=30)
    with caplog.at_level(logging.ERROR, logger="llama_herd_studio"):
        at.run()
    assert [t.value for t in at.title] == ["Before the crash"]
    assert any("Something went wrong on this page" in e.value for e in at.error)
    assert not at.exception, "no traceback box"
    assert [c.value for c in at.caption] == ["the sidebar and the rest of the app still draw"]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "RuntimeError" in logged and "crash-secret" not in logged
