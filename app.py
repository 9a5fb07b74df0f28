"""Llama Herd Studio — entry point: page config, navigation, the shared sidebar."""

import streamlit as st

from ui.common import current_settings, sidebar, sidebar_quota
from ui.shell import mark_shell, pages

st.set_page_config(page_title="Llama Herd Studio", page_icon="🦙", layout="wide")

nav = st.navigation(pages(), position="top")
mark_shell()
settings = current_settings()
sidebar(settings)
nav.run()
sidebar_quota(settings)
