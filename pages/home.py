"""Home: what the demo shows, where Llama runs for this session, setup help when nothing is connected.

The first view is light on purpose (a cold start is mostly the browser drawing it): the connection is one line,
its details and the "Where Llama runs" table are drawn when their box is opened."""

import streamlit as st

from ui.shell import ensure_shell

ensure_shell()

from lib import client  # noqa: E402
from lib.hosts.config import Settings  # noqa: E402
from lib.hosts.providers import BUILT_FOR, CHECKED_ON, GITHUB_RETIRED, ModelPick  # noqa: E402
from lib.common.safe_text import plural  # noqa: E402
from ui import presenter  # noqa: E402
from ui.connection import choose_model, current_settings, shown_endpoint  # noqa: E402
from ui.sidebar import providers_table, setup_panel  # noqa: E402


def _uses(pick: ModelPick, page: str) -> str:
    """"**Llama 3.3 70B** (built for Llama 3.1 405B)": the model a demo uses, and what it was built for if not that."""
    return f"**{pick.label}**" + ("" if pick.exact or not pick.model else f" (built for {BUILT_FOR[page]})")


def _details(settings: Settings, picks: dict[str, ModelPick], stage: bool) -> None:
    """The connection's details, the model each page uses and why, and "Test connection"."""
    p = settings.provider
    assert p is not None
    key = ("not needed" if not p.key_names or (not p.key_required and not settings.token)
           else f"found ({settings.key_name})" if settings.token else f"**missing** — set `{p.key_names[0]}`")
    if stage:  # on stage: no addresses, setting names or key talk
        lines = [f"- **Provider:** {p.label}"]
    else:
        lines = [f"- **Provider:** {p.label} — {settings.reason}",
                 "- **Endpoint:** " + (f"`{shown}`" if (shown := shown_endpoint(settings)) else
                                       "set by this server's operator" if settings.endpoint else "missing"),
                 f"- **Key:** {key}"]
    if picks:
        lines += ["", "| Page | Built for | Uses | Why |", "|---|---|---|---|"]
        for page, title in (("tools", "Tool calling"), ("vision", "Vision")):
            pick = picks[page]
            used = f"{pick.label} · `{pick.model}`" if pick.model else "—"
            lines.append(f"| {title} | {BUILT_FOR[page]} | {used} | {pick.reason.replace('|', '/')} |")
        listing = client.get_models(settings)
        if listing is not None and listing.available:
            lines += ["", f":small[:gray[{settings.label} lists {plural(len(listing.models), 'model')}.]]"]
    st.markdown("\n".join(lines))
    if st.button("Test connection", icon=":material/network_check:", disabled=not settings.endpoint):
        client.clear_models_cache()
        listing = client.get_models(settings)
        if listing is None:
            st.info(f"{p.label} has no model list; the first request will tell whether the endpoint, key and "
                    "deployment name work.", icon="ℹ️")
        elif listing.available:
            checks = ("and the key works" if (p.listing_checks_key or not p.key_names) and settings.token
                      else "" if not p.key_required else
                      f"(it lists models without checking the key, so the first answer will tell whether "
                      f"the {p.key_names[0]} works)")
            st.success(f"Connected to {p.label}: {plural(len(listing.models), 'model')} listed {checks}".strip() + ".",
                       icon="✅")
        elif listing.status in (401, 403):
            st.error(f"{p.label} refused the key (HTTP {listing.status}).", icon="🔑")
        elif st.session_state.get("_visitor_endpoint"):  # a visitor's own typed address: no upstream detail
            st.error(f"Couldn't use {p.label} at the address typed in Connection settings.", icon="⚠️")
        else:
            st.error(f"Couldn't reach {p.label}: {listing.error}.", icon="⚠️")



settings = current_settings()

st.title("🦙 Llama Herd Studio")
st.markdown(
    "Watch Meta's Llama models at work, live: a Llama deciding to call a real tool and answering with its "
    "result (built for **Llama 3.1 405B**), and a Llama describing a photo you bring (built for **Llama 3.2 90B "
    "Vision**). Where a host no longer offers those, the app uses the closest Llama it has and says so."
)

left, right = st.columns(2, gap="medium")
with left, st.container(border=True, height="stretch"):
    st.markdown(
        "#### 🛠️ Tool calling\n\n"
        "Pick tools — web search, Wolfram|Alpha, weather, a clock — and ask a question. You see the model's "
        "native tool call, the real result, and the answer that uses it, plus the raw Llama prompt format."
    )
    st.page_link("pages/tool_calling.py", label="Open the tool-calling demo", icon=":material/arrow_forward:")
with right, st.container(border=True, height="stretch"):
    st.markdown(
        "#### 🖼️ Vision\n\n"
        "Upload a photo, take one with your camera, or use a sample. The model describes it, writes alt text, "
        "reads text in it — then answers your follow-up questions about the same image."
    )
    st.page_link("pages/vision.py", label="Open the vision demo", icon=":material/arrow_forward:")

if not settings.can_send:
    setup_panel(settings)  # includes the GitHub Models retirement sentence when only a GitHub token was found
elif settings.github_retired:
    st.info(GITHUB_RETIRED.split(":")[0] + f": using {settings.label} instead.", icon="🪦")

p = settings.provider
stage = presenter.presenting()
if p is None:
    st.markdown("**Connection:** none yet" + ("" if settings.github_retired else f" ({settings.reason})."))
else:
    # One line on the first view (which model each demo uses); the details, the reasons and "Test connection" are
    # drawn only when their box is opened: every element is work for the browser on a first page view.
    hosts = {page: current_settings(page) for page in ("tools", "vision")}
    picks = ({page: choose_model(hosts[page], page)[0] for page in ("tools", "vision")}
             if settings.can_send or settings.endpoint else {})
    split = hosts["tools"].provider_id != hosts["vision"].provider_id
    line = f"**Connection:** {p.label}" if not split else "**Connection:** each demo on its best host"
    if picks:
        line += f" · tool calling uses {_uses(picks['tools'], 'tools')}" + (f" on {hosts['tools'].label}" if split else "")
        line += f", vision uses {_uses(picks['vision'], 'vision')}" + (f" on {hosts['vision'].label}" if split else "")
    st.markdown(line + ".")
    box = st.expander("Connection details, models and a connection test", key="home_connection",
                      on_change="rerun")
    if box.open:
        with box:
            _details(settings, picks, stage)

if not presenter.presenting():
    # Drawn only when opened: a large table costs the first page view time in the browser.
    where = st.expander(f"Where Llama runs (checked {CHECKED_ON})", key="home_where", on_change="rerun")
    if where.open:
        with where:
            st.markdown(providers_table())
