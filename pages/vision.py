"""Vision: a Llama (built for 3.2 90B Vision) describes a photo (upload, camera or sample) and answers follow-ups."""

from __future__ import annotations

import streamlit as st

from ui.shell import ensure_shell

ensure_shell()

from lib.errors import explain  # noqa: E402
from lib.export import python_snippet  # noqa: E402
from lib.images import MAX_UPLOAD_MB, ImageRejected, fit_inline, prepare_image, square_thumbnail  # noqa: E402
from lib.providers import display_name  # noqa: E402
from lib.safe_text import display_markdown  # noqa: E402
from lib.vision import DETAIL_LEVELS, PRESETS, SAMPLES, detail_level, looks_english, preset  # noqa: E402
from lib.vision_chat import VisionAnswer  # noqa: E402
from ui.common import current_settings, model_picker, next_model_fn, setup_panel, show_error  # noqa: E402

UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff", "heic", "heif", "avif"]
SOURCES = {"upload": ":material/upload: Upload", "camera": ":material/photo_camera: Camera",
           "sample": ":material/photo_library: Sample"}

settings = current_settings()
ss = st.session_state
ss.setdefault("vision_turns", [])  # [(role, text)], the conversation about the current image
ss.setdefault("vision_meta", {})  # turn index -> "2.4 s · 1,234 tokens" for answers
ss.setdefault("vision_image", None)  # {"id", "name", "raw"} of the current image
ss.setdefault("vision_failed", None)  # (question, UserError, partial answer) of the last failed request
# Widget choices survive a visit to another page (Streamlit drops a widget's state when it is not rendered).
for _key, _default in (("vision_source", "upload"), ("vision_preset", PRESETS[0].key), ("vision_detail", "high")):
    ss[_key] = ss.get(_key) or _default


def use_image(image_id: str, name: str, raw: bytes) -> None:
    """Make this the current image (a new image starts a new conversation); refused files change nothing."""
    current = ss["vision_image"]
    if current and current["id"] == image_id:
        return
    try:
        prepared = prepare_image(raw, name, max_side=detail_level(ss.get("vision_detail") or "high").max_side)
    except ImageRejected as exc:
        ss["vision_rejected"] = (image_id, f"{name}: {exc}")
        return
    ss["vision_rejected"] = None
    ss["vision_image"] = {"id": image_id, "name": name, "raw": raw}
    ss["vision_prepared"] = prepared
    ss["vision_prepared_for"] = (image_id, detail_level(ss.get("vision_detail") or "high").max_side)
    ss["vision_turns"], ss["vision_meta"] = [], {}
    ss["vision_failed"] = None


def sample_by_key(key: str):
    """The bundled sample with this key."""
    return next(x for x in SAMPLES if x.key == key)


def pick_sample() -> None:
    """Use the sample just picked (a callback, so picking the same sample again later works too)."""
    key = ss.get("vision_sample")
    if key:
        chosen = sample_by_key(key)
        use_image("sample:" + chosen.key, chosen.path.name, chosen.path.read_bytes())


def prepared_image():
    """The current image prepared for the chosen detail level (prepared once; reruns reuse it)."""
    image = ss["vision_image"]
    if image is None:
        return None
    wanted = (image["id"], detail_level(ss.get("vision_detail") or "high").max_side)
    if ss.get("vision_prepared_for") != wanted:
        ss["vision_prepared"] = prepare_image(image["raw"], image["name"], max_side=wanted[1])
        ss["vision_prepared_for"] = wanted
    p = settings.provider
    if p is not None and p.max_inline_image_chars:
        return fit_inline(ss["vision_prepared"], p.max_inline_image_chars)  # this host caps inline images
    return ss["vision_prepared"]


title = st.empty()
intro = st.empty()
if not settings.can_send:
    setup_panel(settings, compact=True)

model = model_picker(settings, "vision")
can_send = settings.can_send and model is not None
model_name = display_name(model) if model else "Llama Vision"
title.title(f"🖼️ Vision with {model_name}")
intro.caption(
    "Bring one photo; Llama 3.2 Vision sees it in up to four 560-px tiles (1120×1120 at most), so the app shrinks, "
    "rotates and cleans it first — location data never leaves your machine. Then ask about it."
    + ("" if model_name == "Llama 3.2 90B Vision" else
       f" Built for Llama 3.2 90B Vision; answering now: **{model_name} on {settings.label}**.")
)

left, right = st.columns([1, 1], gap="large")
with left:
    source = st.segmented_control("Image source", list(SOURCES), format_func=SOURCES.__getitem__,
                                  key="vision_source", label_visibility="collapsed")
    if source == "upload":
        up = st.file_uploader(
            f"Upload a photo (JPEG, PNG, WebP, GIF, BMP, TIFF, HEIC · up to {MAX_UPLOAD_MB} MB)",
            type=UPLOAD_TYPES, key="vision_upload",
        )
        if up is not None:
            use_image("upload:" + up.file_id, up.name, up.getvalue())
    elif source == "camera":
        shot = st.camera_input("Take a photo", key="vision_camera")
        if shot is not None:
            use_image("camera:" + shot.file_id, "camera.jpg", shot.getvalue())
    else:
        if "vision_thumbs" not in ss:
            ss["vision_thumbs"] = {x.key: square_thumbnail(x.path.read_bytes()) for x in SAMPLES}
        cols = st.columns(len(SAMPLES))
        for col, sample in zip(cols, SAMPLES):
            col.image(ss["vision_thumbs"][sample.key], width="stretch")
        st.pills("Pick a sample", [x.key for x in SAMPLES], format_func=lambda k: sample_by_key(k).label,
                 key="vision_sample", on_change=pick_sample, label_visibility="collapsed")

    rejected = ss.get("vision_rejected")
    if rejected:
        st.error(f"**That file can't be used.** {rejected[1]}", icon="🚫")

    prepared = None
    if ss["vision_image"] is not None:
        try:
            prepared = prepared_image()
        except ImageRejected as exc:  # only if the detail level changed and re-preparing failed
            st.error(str(exc))
    if prepared is not None:
        st.image(prepared.data, caption=ss["vision_image"]["name"], width="stretch")
        st.caption(f"**Sent to the model:** {prepared.summary}")
        sample_credit = next((s.credit for s in SAMPLES if ss["vision_image"]["id"] == "sample:" + s.key), None)
        if sample_credit:
            st.caption(sample_credit)
    else:
        st.info("Upload a photo, take one with the camera, or pick a sample to begin.", icon="📷")

with right:
    st.markdown("**What should the model do?**")
    task = st.radio("Task", [p.key for p in PRESETS], format_func=lambda k: preset(k).label,
                    key="vision_preset", label_visibility="collapsed", horizontal=True)
    own = st.text_area("Or ask your own question", key="vision_own", height=80,
                       placeholder="e.g. What breed is this cat? What is written on the sign?")
    level = st.segmented_control("Detail", [d.key for d in DETAIL_LEVELS],
                                 format_func=lambda k: detail_level(k).label, key="vision_detail")
    st.caption(detail_level(level or "high").explanation)
    ask = st.button("Ask Llama", type="primary", icon=":material/auto_awesome:", width="stretch",
                    disabled=prepared is None or not can_send)

turns: list[tuple[str, str]] = ss["vision_turns"]
question: str | None = None
if ask:
    question = own.strip() or preset(task or PRESETS[0].key).prompt
    ss["vision_turns"] = turns = []  # a new task on the same image starts a new conversation
    ss["vision_meta"] = {}

if prepared is not None:
    st.divider()
    for i, (role, text) in enumerate(turns):
        with st.chat_message(role, avatar="🦙" if role == "assistant" else None):
            st.markdown(display_markdown(text))
            if i in ss["vision_meta"]:
                st.caption(ss["vision_meta"][i])
    failed = ss["vision_failed"]
    if failed and not question:
        with st.chat_message("user"):
            st.markdown(display_markdown(failed[0]))
        if failed[2]:
            with st.chat_message("assistant", avatar="🦙"):
                st.markdown(display_markdown(failed[2]) + " …")
        show_error(failed[1])
        if st.button("Retry", icon=":material/refresh:"):
            question = failed[0]
    follow = st.chat_input("Ask a follow-up about this image…" if turns else "Ask anything about this image…",
                           disabled=not can_send, key="vision_chat")
    question = question or follow

if question and prepared is not None and can_send and model:
    ss["vision_failed"] = None
    with st.chat_message("user"):
        st.markdown(display_markdown(question))
    if not looks_english(question):
        st.info("Llama 3.2 Vision supports only English for questions about images. Your question is sent as "
                "written; the answer may be less reliable.", icon="🌐")
    with st.chat_message("assistant", avatar="🦙"):
        answer = VisionAnswer(settings, model, prepared.data_url, turns + [("user", question)],
                              next_model=next_model_fn(settings, "vision"),
                              detail=detail_level(level or "high").api_detail)
        waiting = st.empty()
        waiting.status("Llama is looking at the image…", state="running")
        answer_box = st.empty()
        try:
            for _piece in answer:
                waiting.empty()
                answer_box.markdown(display_markdown(answer.text) + " ▌")
            answer_box.markdown(display_markdown(answer.text))
        except Exception as exc:  # noqa: BLE001 - shown as a message; image and conversation are kept
            waiting.empty()
            ss["vision_failed"] = (question, explain(exc), answer.text)
            show_error(ss["vision_failed"][1])
        else:
            waiting.empty()
            turns.extend([("user", question), ("assistant", answer.text)])
            ss["vision_meta"][len(turns) - 1] = answer.summary
            st.caption(answer.summary)
            for note in answer.notes:
                st.info(note, icon="🔁")
            ss["vision_last_request"] = dict(endpoint=settings.endpoint, model=answer.model, messages=answer.messages,
                                             provider_id=settings.provider_id, has_key=bool(settings.token))
            if answer.fell_back:
                st.caption("This server refuses a system message next to an image, so the instruction was moved "
                           "into the question (remembered for this endpoint).")

last = ss.get("vision_last_request")
if prepared is not None and ss["vision_turns"] and last:
    with st.expander("View code (Python, azure-ai-inference)"):
        st.caption("The last request, as the SDK's samples write it; save your photo as photo.jpg next to it. "
                   "The key is read from the environment, never written into the code.")
        st.code(python_snippet(last["endpoint"], last["model"], last["messages"], provider_id=last["provider_id"],
                               has_key=last["has_key"]), language="python")
