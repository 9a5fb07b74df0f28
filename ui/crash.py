"""A clear message instead of a traceback, for anything no page caught.

Pages already turn every model, network and file error into a message; this is the last net around `nav.run()`.
The visitor sees one sentence and that nothing was lost; the server log gets the exception with every configured
secret redacted. (streamlit-extras' exception_handler patches a Streamlit function that 1.67 no longer calls for
script errors, so a plain `except` here is the tool that works; Streamlit's rerun/stop signals are BaseExceptions
and pass through.) The sentence is the catalogue's `crash.message`, in the visitor's language.

May import lib.* and ui.i18n."""

from __future__ import annotations

import logging
import traceback
from contextlib import contextmanager
from typing import Iterator

import streamlit as st

from lib.common.redact import redact
from ui.i18n import t

_LOG = logging.getLogger("llama_herd_studio")
# The English catalogue's crash.message, for the one case where no catalogue can be read.
_FALLBACK = ("**Something went wrong on this page.** Your conversations and settings are kept: reload the page or "
             "open another one from the menu above. The details are in the server's log.")


def show(exception: BaseException) -> None:
    """Log the exception (redacted) and tell the visitor in one sentence."""
    text = "".join(traceback.format_exception(type(exception), exception, exception.__traceback__))
    _LOG.error("uncaught exception in a page:\n%s", redact(text))
    try:
        message = t("crash.message")
    except Exception:  # noqa: BLE001 - the last net holds even when the catalogue can't be read
        message = _FALLBACK
    st.error(message, icon="⚠️")


@contextmanager
def guard() -> Iterator[None]:
    """Run a page; an exception it did not catch becomes `show()`'s message."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - the last net; control-flow signals are BaseExceptions
        show(exc)
