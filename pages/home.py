"""Home: what the demo shows, the connection status, setup help when there is no token."""

import streamlit as st

from lib.catalog import resolve_model
from ui.common import catalog, current_settings, setup_panel

settings = current_settings()

st.title("🦙 Llama Herd Studio")
st.markdown(
    "Watch two of Meta's Llama models at work, live: **Llama 3.1 405B** deciding to call a real tool and "
    "answering with its result, and **Llama 3.2 90B Vision** describing a photo you bring."
)

left, right = st.columns(2, gap="medium")
with left, st.container(border=True, height="stretch"):
    st.markdown("#### 🛠️ Tool calling")
    st.markdown(
        "Pick tools — web search, Wolfram|Alpha, weather, a clock — and ask a question. You see the model's "
        "native tool call, the real result, and the answer that uses it, plus the raw Llama prompt format."
    )
    st.page_link("app_pages/tool_calling.py", label="Open the tool-calling demo", icon="➡️")
with right, st.container(border=True, height="stretch"):
    st.markdown("#### 🖼️ Vision")
    st.markdown(
        "Upload a photo, take one with your camera, or use a sample. The model describes it, writes alt text, "
        "reads text in it — then answers your follow-up questions about the same image."
    )
    st.page_link("app_pages/vision.py", label="Open the vision demo", icon="➡️")

if settings.needs_token:
    setup_panel(settings)

st.subheader("Connection")
token_line = (
    f"found ({settings.token_source})" if settings.token
    else ("not needed for a local server" if settings.is_local else "**missing** — see the setup panel above")
)
cat = catalog(settings)
if cat is None:
    catalog_line = "none for this endpoint (model names are used as configured)"
elif cat.available:
    catalog_line = f"{len(cat.models)} models listed"
else:
    catalog_line = f"unavailable ({cat.error}); model names are used as configured"
st.markdown(
    f"- **Endpoint:** `{settings.endpoint}`\n"
    f"- **Token:** {token_line}\n"
    f"- **Catalog:** {catalog_line}"
)

rows = []
for page, model in (("Tool calling", settings.tools_model), ("Vision", settings.vision_model)):
    choice = resolve_model(model, cat)
    listed = {True: "✅ listed", False: "❌ not listed", None: "— not checked"}[choice.listed]
    rows.append({"Page": page, "Model": model, "In catalog": listed, "Fallback": choice.fallback or ""})
st.dataframe(rows, hide_index=True, width="stretch")

if cat is not None and cat.available and cat.models:
    with st.expander(f"All {len(cat.models)} models in the catalog"):
        st.dataframe(
            [
                {
                    "ID": m.id,
                    "Name": m.name,
                    "Input": ", ".join(m.input_modalities),
                    "Tier": m.rate_limit_tier,
                    "Max input tokens": m.max_input_tokens,
                }
                for m in cat.models
            ],
            hide_index=True,
            width="stretch",
        )
st.caption(
    "The GitHub Models free tier is meant for prototyping: about 10 requests a minute and 50 a day for the large "
    "Llama models. Switch to Azure AI or a local server in the sidebar at any time."
)
