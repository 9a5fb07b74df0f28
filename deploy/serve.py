"""`python -m deploy.serve [streamlit options]`: `streamlit run app.py` with the app's process-wide fixes in place
before the first visitor arrives.

`streamlit run app.py` installs them when the first session runs app.py (`ui/reconnect.py`): until then a question
that is a brand-new process's very first message (a room process restarted, a tab failing over to it) is dropped by
Streamlit. Started this way, the process has them before it serves anything. `deploy/room.py` starts its processes
so; run it from the app's folder (its `.streamlit/config.toml` applies as with `streamlit run`).
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    """Install the fixes, then hand over to Streamlit's own command line (`streamlit run app.py <argv>`)."""
    from ui.reconnect import keep_first_questions

    keep_first_questions()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", "app.py", *(sys.argv[1:] if argv is None else argv)]
    cli.main()


if __name__ == "__main__":
    main()
