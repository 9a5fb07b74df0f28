"""Placeholder (being built)."""
import streamlit as st

st.title("tool_calling")
