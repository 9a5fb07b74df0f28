"""Home: what the demo shows, where Llama runs for this session, setup help when nothing is connected.

The first view is light on purpose (a cold start is mostly the browser drawing it): the connection is one line,
its details and the "Where Llama runs" table are drawn when their box is opened. Its words: lib/i18n/*/home.toml."""

import streamlit as st

from ui.shell import ensure_shell

ensure_shell()

from lib import client  # noqa: E402
from lib.hosts.config import Settings  # noqa: E402
from lib.hosts.providers import BUILT_FOR, CHECKED_ON, ModelPick  # noqa: E402
from ui import presenter  # noqa: E402
from ui.connection import choose_model, current_settings, shown_endpoint  # noqa: E402
from ui.i18n import say, t  # noqa: E402
from ui.sidebar import providers_table, setup_panel  # noqa: E402


def _uses(pick: ModelPick, page: str) -> str:
    """"**Llama 3.3 70B** (built for Llama 3.1 405B)": the model a demo uses, and what it was built for if not that."""
    if pick.exact or not pick.model:
        return f"**{say(pick.label_msg)}**"
    return t("home.uses_built_for", label=pick.label, model=BUILT_FOR[page])


def _models(n: int) -> str:
    """"1 model", "3 models" (in Korean: "모델 3개")."""
    return t("home.details.models_one" if n == 1 else "home.details.models_other", count=n)


def _details(settings: Settings, picks: dict[str, ModelPick], stage: bool) -> None:
    """The connection's details, the model each page uses and why, and "Test connection"."""
    p = settings.provider
    assert p is not None
    label = say(p.label_msg)  # "Ollama (이 컴퓨터에서 실행)" on a Korean page
    key = (t("home.details.key_not_needed") if not p.key_names or (not p.key_required and not settings.token)
           else t("home.details.key_found", key_name=settings.key_name) if settings.token
           else t("home.details.key_missing", key_name=p.key_names[0]))
    if stage:  # on stage: no addresses, setting names or key talk
        lines = ["- " + t("home.details.provider", label=label)]
    else:
        lines = ["- " + t("home.details.provider_why", label=label, reason=say(settings.shown_reason)),
                 "- " + (t("home.details.endpoint", endpoint=shown) if (shown := shown_endpoint(settings)) else
                         t("home.details.endpoint_operator") if settings.endpoint else
                         t("home.details.endpoint_missing")),
                 f"- {key}"]
    if picks:
        header = (t(f"home.details.{name}") for name in ("page", "built_for", "uses", "why"))
        lines += ["", "| " + " | ".join(header) + " |", "|---|---|---|---|"]
        for page in ("tools", "vision"):
            pick = picks[page]
            used = f"{pick.label} · `{pick.model}`" if pick.model else "—"
            lines.append(f"| {t('home.details.' + page)} | {BUILT_FOR[page]} | {used} | "
                         f"{say(pick.shown_reason).replace('|', '/')} |")
        listing = client.get_models(settings)
        if listing is not None and listing.available:
            listed = t("home.details.lists", label=say(settings.label_msg), models=_models(len(listing.models)))
            lines += ["", f":small[:gray[{listed}]]"]
    st.markdown("\n".join(lines))
    if st.button(t("home.test.button"), icon=":material/network_check:", disabled=not settings.endpoint):
        client.clear_models_cache()
        listing = client.get_models(settings)
        if listing is None:
            st.info(t("home.test.no_model_list", label=label), icon="ℹ️")
        elif listing.available:
            models = _models(len(listing.models))
            if (p.listing_checks_key or not p.key_names) and settings.token:
                said = t("home.test.connected_key_works", label=label, models=models)
            elif not p.key_required:
                said = t("home.test.connected", label=label, models=models)
            else:
                said = t("home.test.connected_key_unchecked", label=label, models=models, key_name=p.key_names[0])
            st.success(said, icon="✅")
        elif listing.status in (401, 403):
            st.error(t("home.test.refused", label=label, status=listing.status), icon="🔑")
        elif st.session_state.get("_visitor_endpoint"):  # a visitor's own typed address: no upstream detail
            st.error(t("home.test.typed_address", label=label), icon="⚠️")
        else:
            st.error(t("home.test.unreachable", label=label, error=say(listing.shown_error)), icon="⚠️")



settings = current_settings()

st.title(t("home.title_name"))
st.markdown(t("home.intro"))

left, right = st.columns(2, gap="medium")
with left, st.container(border=True, height="stretch"):
    st.markdown(f"#### 🛠️ {t('home.tools_title')}\n\n{t('home.tools_text')}")
    st.page_link("pages/tool_calling.py", label=t("home.tools_link"), icon=":material/arrow_forward:")
with right, st.container(border=True, height="stretch"):
    st.markdown(f"#### 🖼️ {t('home.vision_title')}\n\n{t('home.vision_text')}")
    st.page_link("pages/vision.py", label=t("home.vision_link"), icon=":material/arrow_forward:")

if not settings.can_send:
    setup_panel(settings)  # includes the GitHub Models retirement sentence when only a GitHub token was found
elif settings.github_retired:
    st.info(t("home.github_retired", label=say(settings.label_msg)), icon="🪦")

p = settings.provider
stage = presenter.presenting()
if p is None:
    st.markdown(t("home.connection_none") if settings.github_retired
                else t("home.connection_none_why", reason=say(settings.shown_reason)))
else:
    # One line on the first view (which model each demo uses); the details, the reasons and "Test connection" are
    # drawn only when their box is opened: every element is work for the browser on a first page view.
    hosts = {page: current_settings(page) for page in ("tools", "vision")}
    picks = ({page: choose_model(hosts[page], page)[0] for page in ("tools", "vision")}
             if settings.can_send or settings.endpoint else {})
    split = hosts["tools"].provider_id != hosts["vision"].provider_id
    if not picks:
        line = t("home.connection_split") if split else t("home.connection", label=say(p.label_msg))
    elif split:
        line = t("home.connection_split_uses", tools=_uses(picks["tools"], "tools"),
                 tools_host=say(hosts["tools"].label_msg), vision=_uses(picks["vision"], "vision"),
                 vision_host=say(hosts["vision"].label_msg))
    else:
        line = t("home.connection_uses", label=say(p.label_msg), tools=_uses(picks["tools"], "tools"),
                 vision=_uses(picks["vision"], "vision"))
    st.markdown(line)
    box = st.expander(t("home.details_box"), key="home_connection", on_change="rerun")
    if box.open:
        with box:
            _details(settings, picks, stage)

if not presenter.presenting():
    # Drawn only when opened: a large table costs the first page view time in the browser.
    where = st.expander(t("home.where_checked", date=CHECKED_ON), key="home_where", on_change="rerun")
    if where.open:
        with where:
            st.markdown(providers_table())
