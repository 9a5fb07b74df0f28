"""Llama Herd Studio — entry point: page config, navigation, the shared sidebar."""

import streamlit as st

from ui.common import current_settings, sidebar, sidebar_quota

st.set_page_config(page_title="Llama Herd Studio", page_icon="🦙", layout="wide")

pages = [
    st.Page("app_pages/home.py", title="Home", icon="🏠", default=True),
    st.Page("app_pages/tool_calling.py", title="Tool calling (Llama 3.1 405B)", icon="🛠️", url_path="tool_calling"),
    st.Page("app_pages/vision.py", title="Vision (Llama 3.2 90B)", icon="🖼️", url_path="vision"),
]
nav = st.navigation(pages, position="top")
settings = current_settings()
sidebar(settings)
nav.run()
sidebar_quota(settings)
