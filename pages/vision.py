"""Vision: a Llama (built for 3.2 90B Vision) describes a photo (upload, camera or sample) and answers follow-ups.

Layout for a 1280×720 projector: the picture on the left, the question and the conversation on the right, so the
answer sits next to the image. Under the photo, "What Llama sees" puts a slider between the upload and the image sent
in its place, and "Region" a crop tool: a question is then about that part only, cut from the original. A question
is stored as pending before its answer streams (lib.vision.conversation), so Stop or any other click keeps the
question and what arrived, marked stopped.
"""

from __future__ import annotations

import contextlib
import time

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx
from streamlit_extras.image_compare_slider import image_compare_slider
from streamlit_extras.image_crop import image_crop

from ui.shell import ensure_shell

ensure_shell()

from lib.vision import conversation as vs  # noqa: E402
from lib.hosts.errors import explain  # noqa: E402
from lib.hosts.view_code import python_snippet  # noqa: E402
from lib.vision.images import MAX_UPLOAD_MB, ImageRejected, PreparedImage, fit_inline  # noqa: E402
from lib.hosts.providers import display_name  # noqa: E402
from lib.common.safe_text import as_text, display_markdown, error_as_text  # noqa: E402
from lib.hosts.budget import MAX_QUESTION_CHARS  # noqa: E402
from lib.hosts.limits import wait_notice, wait_text  # noqa: E402
from lib.common.ticking import Tick, ticking  # noqa: E402
from lib.answers.transcript import (  # noqa: E402
    MAX_JSON_BYTES, TranscriptError, import_vision_transcript, vision_transcript_files)
from lib.vision.tasks import (  # noqa: E402
    DETAIL_LEVELS, PRESETS, SAMPLES, detail_level, looks_english, preset, preset_for_prompt, sample)
from lib.vision.answer import VisionAnswer  # noqa: E402
from lib.vision import crop as vc  # noqa: E402
from ui import presenter, state  # noqa: E402
from ui.connection import context_tokens, current_settings, model_picker, next_model_fn, shown_url  # noqa: E402
from ui.conversation import LiveAnswer, ProgressLine, earlier_turns, show_error  # noqa: E402
from ui.meter import count_requests  # noqa: E402
from ui.rehearsal import stream_opener  # noqa: E402
from ui.sidebar import setup_panel  # noqa: E402
from ui.sharing import share_controls, show_shared_view  # noqa: E402

if show_shared_view("vision"):  # a read-only link someone shared: their photo conversation, nothing else
    st.stop()

SOURCES = {"upload": ":material/upload: Upload", "camera": ":material/photo_camera: Camera",
           "sample": ":material/photo_library: Sample"}
DETAIL_HELP = "  \n".join(f"**{d.label}:** {d.explanation}" for d in DETAIL_LEVELS)
MAX_TRANSCRIPT_MB = max(1, MAX_JSON_BYTES // 1_000_000)
IMAGE_MAX_HEIGHT = 360  # px on screen, so a portrait photo leaves room for everything else at 1280×720
WIDGETS = {"vision_source": "upload", "vision_preset": PRESETS[0].key, "vision_own": "", "vision_detail": "high"}
# What the photo's place shows: the photo, the slider between it and what is sent, or the crop tool.
VIEWS = {"photo": ":material/image: Photo", "sees": ":material/compare: What Llama sees",
         "region": ":material/crop: Region"}
VIEWS_HELP = ("**What Llama sees:** the photo as uploaded against the image sent to the model, with its numbers.  \n"
              "**Region:** draw a box to ask about one part of the photo (a sign, a label): only that part is sent, "
              "at full resolution.")
# Memory (issue 22: a session costs its prepared image plus a little). The crop tool cuts from the original upload,
# which `release` lets go of once the photo is prepared. While the tool is open the page keeps ONE original: the
# current photo's upload bytes as they arrived (ORIGINAL: at most MAX_UPLOAD_MB; a 12-MP phone JPEG is 3-5 MB, about
# ten times its prepared image), taken when a photo arrives with the tool open and dropped when the tool is closed,
# another photo is used, or the page is drawn without the tool. A sample is re-read from disk instead. Cutting a
# region decodes the original once (transient, within MAX_DECODE_MB and the shared decode slots) and keeps only
# the region prepared for the model (REGION_SENT: at most 1120 px a side, ~0.1-0.4 MB) while it is chosen; the
# slider keeps one screen copy of the sent image with its tiles marked (SEES: ~0.3 MB) while it is shown.
ORIGINAL, REGION, REGION_SENT, SEES = "vision_original", "vision_region", "vision_region_sent", "vision_sees"
# Static CSS (never model output): the thumbnail cards are clickable as a whole (the chip's button is stretched
# over its card); the drop zone states this page's limit instead of Streamlit's larger server.maxUploadSize.
PAGE_CSS = """<style>
[class*="st-key-vision_card_"] { position: relative; }
[class*="st-key-vision_card_"] [data-testid="stElementContainer"],
[class*="st-key-vision_card_"] [data-testid="stButtonGroup"],
[class*="st-key-vision_card_"] [data-testid="stButtonGroup"] > div { position: static; }
[class*="st-key-vision_card_"] [data-testid="stButtonGroup"] button::after {
  content: ""; position: absolute; inset: 0; }
[class*="st-key-vision_card_"]:hover { outline: 2px solid var(--primary-color, #0866FF); border-radius: 0.5rem; }
[class*="st-key-vision_upload"] [data-testid="stFileUploaderDropzoneInstructions"] span { display: none; }
[class*="st-key-vision_upload"] [data-testid="stFileUploaderDropzoneInstructions"] > div::after {
  content: "Drop a photo here · up to %(mb)d MB"; font-size: 0.875rem; }
</style>""" % {"mb": MAX_UPLOAD_MB}
# Presenter mode's 20-px text would wrap the Photo / What Llama sees / Region control in the photo's column: 17 px,
# as its captions.
STAGE_CSS = """<style>
.st-key-vision_view [data-testid="stMarkdownContainer"] p { font-size: 17px !important; }
</style>"""

settings = current_settings("vision")  # this page's host: the best across those configured
ss = st.session_state
vs.init_state(ss)

# A reload is a new session: bring back this tab's conversation (saved under the ?s= id in the URL).
if "vision_restore_checked" not in ss:
    ss["vision_restore_checked"] = True
    if ss[vs.IMAGE] is None and not ss[vs.TURNS]:
        restored = vs.restore(ss, state.load("vision"), state.load_blob("vision"))
        if restored:
            for key, value in restored.settings.items():
                if key in WIDGETS and key not in ss and (key != "vision_detail" or restored.image):
                    ss[key] = value
            if restored.turns:
                st.toast(f"Restored this tab's conversation ({restored.turns // 2} question"
                         f"{'s' if restored.turns != 2 else ''}).", icon="↩️")
for _key, _default in WIDGETS.items():
    # Only for widgets drawn in this run: a value set for a widget that is not drawn outlives the widget's own.
    if _key != "vision_detail" or ss[vs.IMAGE] is not None:
        state.keep(_key, _default)


def save() -> None:
    """Keep the conversation, the prepared image (as bytes) and the page's choices for a reload of this tab; when
    they can't be kept (too large for the store), the page says a reload won't bring them back."""
    data, photo, photo_kept = vs.saved_form(ss, {k: ss.get(k) for k in WIDGETS})
    ss["vision_not_kept"] = not (state.save("vision", data, blob=photo) and photo_kept)


if (leftover := ss.pop("vision_live_items", None)) is not None:
    leftover.close()  # the last run is still waiting on its answer: stop its worker and hang up now (any thread)
if vs.settle_interrupted(ss):  # the last run was cut short (Stop, another click, a page switch)
    save()
pending: vs.Pending | None = ss[vs.PENDING]
busy = pending is not None


def take(image_id: str, name: str, raw: bytes, source: str) -> bool:
    """Use this upload/shot/sample unless it was refused before; a refusal keeps the current image. True when the
    photo was prepared (now or before)."""
    current = ss[vs.IMAGE]
    if current is not None and current.id == image_id:
        return True
    if (ss.get("vision_rejected") or ("",))[0] == image_id:
        return False
    try:
        image = vs.image_from_bytes(image_id, name, raw, source)
    except ImageRejected as exc:
        ss["vision_rejected"] = (image_id, f"**{display_markdown(name)}** can't be used: {exc}.")
        st.toast(f"{display_markdown(name)} can't be used: {exc}.", icon="🚫")
        return False
    ss["vision_rejected"] = None
    if current is not None and ss.get("vision_view") == "region" and vc.same_picture(current.master, image.master):
        keep_original(current.id, raw, source)  # dropped again to crop it at full resolution: the conversation stays
        return True
    if vs.use_image(ss, image):
        save()
    keep_original(image.id, raw, source)
    return True


def keep_original(image_id: str, raw: bytes, source: str) -> None:
    """While the crop tool is open, keep the upload or camera shot the photo was prepared from (one: see ORIGINAL)."""
    if ss.get("vision_view") == "region" and source in ("upload", "camera"):
        ss[ORIGINAL] = (image_id, raw)
    else:
        ss.pop(ORIGINAL, None)


def original_of(image: vs.CurrentImage) -> bytes | None:
    """The photo's original bytes if the page has them: a sample's file, or the upload kept while cropping."""
    if image.source == "sample":
        with contextlib.suppress(KeyError, OSError):
            return sample(image.id.partition(":")[2]).path.read_bytes()
        return None
    held = ss.get(ORIGINAL)
    return held[1] if held is not None and held[0] == image.id else None


def forget_region() -> None:
    """Back to the whole photo: the region, its prepared image and the kept original go; the crop tool starts
    afresh."""
    for key in (REGION, REGION_SENT, ORIGINAL):
        ss.pop(key, None)
    ss["vision_crop_n"] = ss.get("vision_crop_n", 0) + 1


def view_changed() -> None:
    """The Photo / What Llama sees / Region control under the photo."""
    if ss.get("vision_view") != "region":
        forget_region()
    if ss.get("vision_view") != "sees":
        ss.pop(SEES, None)


def whole_photo() -> None:
    """The "Whole photo" button under the crop tool."""
    ss["vision_view"] = "photo"
    forget_region()


def current_region() -> vc.Region | None:
    """The region chosen on the current photo while the crop tool is open, once it is cut and ready to send."""
    image, held, cut = ss[vs.IMAGE], ss.get(REGION), ss.get(REGION_SENT)
    if image is None or held is None or held[0] != image.id or ss.get("vision_view") != "region":
        return None
    if cut is None or cut[0][:2] != (image.id, held[1].box):
        return None  # not cut (it could not be): a question now is about the whole photo
    return held[1]


def widget_key(name: str) -> str:
    """The key of the photo uploader ("vision_upload") or the camera ("vision_camera") now: a new one each time a
    photo has been taken from it (`release`), so it is drawn anew, empty."""
    n = ss.get(f"{name}_n", 0)
    return f"{name}_{n}" if n else name


def release(widget: str, file_id: str) -> None:
    """Let go of a taken photo's upload. Streamlit keeps every file a widget holds in memory until the session
    ends (a 12-MP JPEG: 4.5 MB a visitor, where the prepared photo kept instead is ~0.4 MB; see
    bench/bench_session_memory.py), and a widget that is drawn no more does not give it back: the file is removed
    (as st.chat_input removes its files once read) and the widget is drawn anew, empty, under a new key. The page
    shows the photo and its name above it."""
    ss[f"{widget}_n"] = ss.get(f"{widget}_n", 0) + 1
    ctx = get_script_run_ctx()
    remove = getattr(getattr(ctx, "uploaded_file_mgr", None), "remove_file", None)
    if ctx is not None and callable(remove):
        with contextlib.suppress(Exception):  # an upload manager of another kind keeps it; nothing breaks
            remove(session_id=ctx.session_id, file_id=file_id)


def uploaded() -> None:
    """A photo was dropped in the uploader: prepare it, then let go of the upload (a refused file stays in the
    uploader, under its message, until removed or replaced)."""
    up = ss.get(widget_key("vision_upload"))
    if up is not None and take("upload:" + up.file_id, up.name, up.getvalue(), "upload"):
        release("vision_upload", up.file_id)


def shot_taken() -> None:
    """The camera took a photo: prepare it, then let go of the shot (the camera starts afresh)."""
    shot = ss.get(widget_key("vision_camera"))
    if shot is not None and take("camera:" + shot.file_id, "camera.jpg", shot.getvalue(), "camera"):
        release("vision_camera", shot.file_id)


def undo_photo() -> None:
    """Bring back the photo and conversation a new photo replaced."""
    if vs.undo_image(ss):
        save()


def pick_sample(key: str) -> None:
    """A sample card was clicked."""
    if ss.get(f"vision_sample_{key}") is None:  # clicking the chosen one again keeps it
        return
    chosen = sample(key)
    take("sample:" + key, chosen.path.name, chosen.path.read_bytes(), "sample")


def preset_picked() -> None:
    """A preset wins over a leftover custom question."""
    if ss.get("vision_preset"):
        ss["vision_own"] = ""


def own_typed() -> None:
    """Typing a question of your own unselects the preset, so the screen shows what Ask will send."""
    if (ss.get("vision_own") or "").strip():
        ss["vision_preset"] = None


def begin(question: str | None) -> None:
    """Store the question as pending; this run then shows disabled inputs and Stop, and streams the answer. With
    a region chosen, the question is about that region (its footer says which)."""
    region = current_region()
    if vs.start(ss, question, about=region.note if region is not None else ""):
        ss["vision_notes"] = []


def ask() -> None:
    """The Ask button: your own question if you typed one, else the chosen preset's prompt."""
    begin(vs.ask_text(ss.get("vision_preset"), ss.get("vision_own")))


def follow_up() -> None:
    """The chat box under the conversation."""
    begin(ss.get("vision_chat"))


def ask_again_fresh() -> None:
    """Replace the last (cached) answer with a fresh one: the same request, skipping the cache."""
    turns, meta = ss[vs.TURNS], ss[vs.META]
    if len(turns) >= 2 and turns[-1][0] == "assistant":
        question = turns[-2][1]
        meta.pop(len(turns) - 1, None)
        meta.pop(len(turns) - 2, None)  # a region question's own footer (asked again about what is chosen now)
        del turns[-2:]
        ss["vision_fresh"] = True
        begin(question)


def retry() -> None:
    """Ask the failed question again (offered only when that can help)."""
    failed = ss[vs.FAILED]
    if failed is not None:
        ss[vs.FAILED] = None
        begin(failed.question)


SCENARIOS = (  # presenter mode: one click picks the photo and asks
    ("Read the bakery's sign", "shopfront", "read_text"),
    ("Describe the cat", "cat", "describe"),
    ("What's unusual here?", "astronaut", "unusual"),
)


def scenario(sample_key: str, preset_key: str) -> None:
    """A scenario button: this sample, this task, asked at once."""
    chosen = sample(sample_key)
    ss["vision_source"] = "sample"
    take("sample:" + sample_key, chosen.path.name, chosen.path.read_bytes(), "sample")
    ss["vision_preset"], ss["vision_own"] = preset_key, ""
    begin(preset(preset_key).prompt)


def import_transcript() -> None:
    """Show a saved transcript again; a file that is not one gets a clear reason (the current state stays)."""
    upload = ss.get("vision_import")
    ss["vision_import_error"] = None
    if upload is None:
        return
    try:
        n = import_vision_transcript(ss, upload.getvalue())
    except TranscriptError as exc:
        ss["vision_import_error"] = f"**{as_text(upload.name)}** can't be opened: {as_text(str(exc))}"
        return
    ss["vision_rejected"] = None
    save()
    st.toast(f"Opened {as_text(upload.name)}: {n // 2} question{'s' if n != 2 else ''}.", icon="📄")


def sample_gallery() -> None:
    """Clickable cards, two by two: a thumbnail and a chip (a pills button stretched over the whole card)."""
    if "vision_thumbs" not in ss:
        ss["vision_thumbs"] = {x.key: vs.card_thumbnail(x.path.read_bytes()) for x in SAMPLES}
    current = ss[vs.IMAGE]
    cols = st.columns(2, gap="small")
    for i, item in enumerate(SAMPLES):
        ss[f"vision_sample_{item.key}"] = item.key if current is not None and current.id == "sample:" + item.key \
            else None
        with cols[i % 2].container(border=True, key=f"vision_card_{item.key}", horizontal=True,
                                   vertical_alignment="center", gap="small", wrap=False):
            st.image(ss["vision_thumbs"][item.key], width=48)
            st.pills(f"Use the {item.label.lower()} photo", [item.key], format_func=lambda _k, x=item: x.label,
                     key=f"vision_sample_{item.key}", on_change=pick_sample, args=(item.key,),
                     label_visibility="collapsed", disabled=busy)


def prepared_image() -> PreparedImage | None:
    """The current image as sent at the chosen detail level and to this host (made once for each; reruns reuse it).
    At full detail, and where the host takes it whole, that is the kept image itself, not a copy."""
    image: vs.CurrentImage | None = ss[vs.IMAGE]
    if image is None:
        return None
    p = settings.provider
    limit = p.max_inline_image_chars if p is not None else None
    wanted = (image.id, detail_level(ss.get("vision_detail") or "high").max_side, limit)
    if ss.get("vision_prepared_for") != wanted:
        ss.pop("vision_prepared", None)  # the last one goes before the next is made
        prepared = vs.for_detail(image, wanted[1])
        ss["vision_prepared"] = fit_inline(prepared, limit) if limit else prepared  # this host caps inline images
        ss["vision_prepared_for"] = wanted
    return ss["vision_prepared"]


def what_llama_sees(image: vs.CurrentImage, prepared: PreparedImage) -> None:
    """A slider between the photo as uploaded and the image sent, labelled with their real numbers (size, bytes,
    format, JPEG quality, tiles). The upper side is the kept copy of the upload: at this size it looks as the upload
    does, and the upload itself was let go (see `release`). The lower side marks the 560-px tiles Llama cuts the
    image into (a screen copy: the model gets the image without them)."""
    wanted = (image.id, prepared.width, prepared.height, len(prepared.data))
    if (ss.get(SEES) or (None,))[0] != wanted:
        ss.pop(SEES, None)
        ss[SEES] = (wanted, vc.with_tile_lines(prepared))
    before, after = vc.compare_labels(prepared)
    # Top and bottom, so each label has the whole width (side by side, the photo's would cover the other's).
    image_compare_slider(image.master.data, ss[SEES][1], label1=before, label2=after, portrait=True,
                         key="vision_sees_slider")


def sees_caption(prepared: PreparedImage) -> None:
    """Under the slider, in the page's own (presenter-sized) text: what the two halves are."""
    columns, rows, _scale = vc.tiles(prepared.width, prepared.height)
    tiled = ", dashed where Llama cuts it into 560-px tiles" if columns * rows > 1 else ""
    st.caption(f"Above the line: as uploaded. Below: as sent to Llama ({vc.sent_facts(prepared)}){tiled}.")


def crop_tool(image: vs.CurrentImage) -> vc.Region | None:
    """The crop tool on the photo (its kept copy, right way up); returns the region of the original it picks."""
    bounds = image_crop(image.master.data, min_width=12, min_height=12,
                        key=f"vision_crop_{ss.get('vision_crop_n', 0)}_{image.id}")
    region = vc.region_from_bounds(bounds, vc.shown_size(image.master))
    ss[REGION] = (image.id, region) if region is not None else None
    return region


def region_sent(image: vs.CurrentImage, region: vc.Region) -> PreparedImage:
    """Only the region, prepared for the model from the original (made once for each region; see ORIGINAL)."""
    p = settings.provider
    limit = p.max_inline_image_chars if p is not None else None
    original = original_of(image)
    wanted = (image.id, region.box, limit, original is not None)
    if (ss.get(REGION_SENT) or (None,))[0] != wanted:
        ss.pop(REGION_SENT, None)  # the last one goes before the next is made
        cut = vc.region_image(original, image.master, region, image.name)
        ss[REGION_SENT] = (wanted, fit_inline(cut, limit) if limit else cut)
    return ss[REGION_SENT][1]


def show_region(image: vs.CurrentImage, region: vc.Region | None) -> PreparedImage | None:
    """Under the crop tool: what is being asked about and how it is sent, and the way back to the whole photo.
    Returns the region as it will be sent (None while none is chosen)."""
    sent = None
    if region is not None:
        try:
            sent = region_sent(image, region)
        except ImageRejected as exc:
            st.error(f"This region can't be cut: {exc}.", icon="✂️")
    # One line: the caption wraps beside the button rather than pushing it below (the photo's column is narrow).
    with st.container(horizontal=True, vertical_alignment="center", gap="small", wrap=False,
                      key="vision_region_line"):
        if sent is None or region is None:
            st.caption("Drag a box over the part to ask about.")
        else:
            how = ("at full resolution" if (sent.width, sent.height) == (region.width, region.height)
                   else f"sent as {sent.width}×{sent.height}")
            st.caption(f"**Asking about a region:** {region.label}, {how}.")
        st.button("Whole photo", key="vision_whole_photo", icon=":material/crop_free:", type="tertiary",
                  on_click=whole_photo, disabled=busy, help="Close the crop tool and ask about the whole photo.")
    if original_of(image) is None and image.source in ("upload", "camera"):
        st.caption("Cut from the 1120-px copy: the upload itself was let go to keep the server light. Drop the "
                   "photo again while this is open to cut from the original.")
    return sent


def show_question(text: str) -> None:
    """A question as asked; a preset shows its short label (the full prompt in its tooltip and in the export)."""
    chosen = preset_for_prompt(text)
    if chosen is None:
        st.markdown(display_markdown(text))
    else:
        st.markdown(f"**{chosen.label}**", help=text)


def show_turns() -> None:
    """The conversation so far: questions, answers, and each answer's footer (who answered, time, or stopped)."""
    meta, turns = ss[vs.META], ss[vs.TURNS]
    questions = [i for i, (role, _) in enumerate(turns) if role == "user"]
    hidden = earlier_turns(len(questions), "vision_show_all")
    start = questions[hidden] if hidden else 0
    for i, (role, text) in enumerate(turns[start:], start=start):
        with st.chat_message(role, avatar="🦙" if role == "assistant" else None):
            if role == "user":
                show_question(text)
            elif text:
                st.markdown(display_markdown(text))
            elif role == "assistant":
                st.markdown("*No text arrived before it stopped.*")
            if i in meta:
                st.caption(as_text(meta[i]))  # an imported transcript's footers are untrusted: shown as written
                last = i == len(turns) - 1
                if last and role == "assistant" and "no quota used" in meta[i] and ss[vs.PENDING] is None:
                    st.button("Ask again (fresh)", key="vision_fresh", icon=":material/refresh:", type="tertiary",
                              on_click=ask_again_fresh, help="Send this question to the model again, skipping the cache.")


def show_failure(can_retry: bool) -> None:
    """The question that failed, any text that arrived (no cursor), the explained error and Retry if it can help."""
    failed: vs.Failure | None = ss[vs.FAILED]
    if failed is None:
        return
    with st.chat_message("user"):
        show_question(failed.question)
        if failed.about:
            st.caption(as_text(failed.about))
    with st.chat_message("assistant", avatar="🦙"):
        if failed.partial:
            st.markdown(display_markdown(failed.partial))
            st.caption("The answer was cut off here.")
        show_error(error_as_text(failed.error))
        if failed.error.retry_helps and can_retry:
            st.button("Retry", key="vision_retry", icon=":material/refresh:", on_click=retry)


def stream_answer(pending: vs.Pending, prepared: PreparedImage, model: str, detail: str | None = None) -> None:
    """Stream the pending question's answer about `prepared` (the photo, or only a region of it) with a live status
    line and Stop; then redraw from state."""
    with st.chat_message("user"):
        show_question(pending.question)
        if pending.about:
            st.caption(as_text(pending.about))
    presenter.bring_question_into_view()  # on a projector: the question at the top, its answer streaming below
    if not looks_english(pending.question):
        st.info("Llama 3.2 Vision supports only English for questions about images. Your question is sent as "
                "written; the answer may be less reliable.", icon="🌐")
    with st.chat_message("assistant", avatar="🦙"):
        with st.container(horizontal=True, vertical_alignment="center", gap="small", key="vision_progress"):
            status = ProgressLine(st.empty())
            st.button("Stop", key="vision_stop", icon=":material/stop_circle:", on_click=vs.request_stop, args=(ss,),
                      help="Keeps the question and what has arrived so far.")
        live = LiveAnswer(st.empty())  # finished paragraphs drawn once, the current one paced
        # Everything that reads session state is resolved here: the answer streams in a worker thread (ticking).
        answer = VisionAnswer(settings, model, prepared.data_url,
                              vs.request_turns(ss[vs.TURNS], pending.question, ss[vs.META], pending.about),
                              next_model=next_model_fn(settings, "vision"),
                              detail=detail or detail_level(ss.get("vision_detail") or "high").api_detail,
                              open_stream=stream_opener(fresh=ss.pop("vision_fresh", False)),
                              context_tokens=context_tokens(settings, model))
        pending.answered_by = answer.answered_by
        pending.started = True
        save()  # a reload during the answer finds the question (it comes back marked stopped)
        started = time.monotonic()

        def label() -> str:
            step = "writing the answer" if answer.text else "looking at the image"
            if answer.model != model:  # the first model was retired or not found: the next one is answering
                step = f"trying another model · {step}"
            return f"{display_name(answer.model)} is {step}… **{int(pending.elapsed_s)} s**"

        line = {"position": 0}  # set by the worker thread while it waits for a free slot at the provider

        def pieces():
            """The answer, streamed in ticking()'s worker thread, reporting any wait for a free slot."""
            with wait_notice(lambda n: line.__setitem__("position", n)):
                yield from answer

        status.show(label())
        items = ticking(pieces(), interval_s=0.5)
        ss["vision_live_items"] = items  # the next run closes it if this one is interrupted before its `finally`
        try:
            for item in items:
                pending.elapsed_s = time.monotonic() - started
                pending.answered_by = answer.answered_by
                if not isinstance(item, Tick):
                    pending.partial = answer.text
                    live.add(item)
                status.show(wait_text(line['position']) if line['position'] else label())
        except Exception as exc:  # noqa: BLE001 - explained and shown after the rerun, with Retry if it helps
            vs.fail(ss, pending.question, explain(exc), answer.text)
        else:
            if items.cancelled:
                st.stop()  # the next run (already started, on another thread) stopped this one: it stays stopped
            vs.finish(ss, pending.question, answer.text, answer.summary, answer.model, settings.label)
            count_requests(answer.requests)  # the sidebar's "This session"
            ss["vision_notes"] = list(answer.notes) + (
                ["This server refuses a system message next to an image, so the instruction was moved into the "
                 "question (remembered for this endpoint)."] if answer.fell_back else [])
            ss["vision_last_request"] = dict(endpoint=settings.endpoint, model=answer.model,
                                             messages=vs.without_image_data(answer.messages),
                                             provider_id=settings.provider_id, has_key=bool(settings.token))
            save()
        finally:
            items.close()  # Stop or any other click: the worker stops and the request is hung up at once
            ss.pop("vision_live_items", None)
    st.rerun()  # redraw from state: inputs enabled again, Retry right after a failure


# --- the page --------------------------------------------------------------------------------------------------------

st.html(PAGE_CSS + (STAGE_CSS if presenter.presenting() else ""))
title = st.empty()
intro = st.empty()
if not settings.can_send:
    setup_panel(settings, compact=True)

if presenter.presenting():
    with st.container(horizontal=True, gap="small"):
        for label, sample_key, preset_key in SCENARIOS:
            st.button(label, key=f"vision_scenario_{sample_key}", icon=":material/play_arrow:", on_click=scenario,
                      args=(sample_key, preset_key), disabled=busy or not settings.can_send)

left, right = st.columns([1, 1], gap="medium")
with left:
    # Filled below, once the source widgets have run: the picture comes first (and stays in view on stage).
    image_area = st.container(key="vision_image_area")
    with st.container(border=False):
        source = st.segmented_control("Image source", list(SOURCES), format_func=SOURCES.__getitem__,
                                      required=True, key="vision_source", label_visibility="collapsed",
                                      disabled=busy)
        if source == "upload":
            # Taken in its callback (before this run draws anything): an accepted photo's uploader is drawn anew,
            # empty, in this very run (see `release`).
            up = st.file_uploader(
                f"Upload a photo: JPEG, PNG, WebP, GIF, BMP, TIFF, HEIC or AVIF, up to {MAX_UPLOAD_MB} MB",
                type=None, key=widget_key("vision_upload"), on_change=uploaded, disabled=busy,
                label_visibility="collapsed",
                help="Any file is accepted here and checked by its content; what isn't a photo is refused with the "
                     "reason, and the current image stays.",
            )
            if up is not None:
                uploaded()  # a file the callback has not seen (a restored widget value): the same
            elif (ss.get("vision_rejected") or ("",))[0].startswith("upload:"):
                ss["vision_rejected"] = None  # the refused file was removed from the uploader
            in_use = ss[vs.IMAGE]
            st.caption((f"In use: **{as_text(in_use.name)}**. " if in_use is not None and in_use.source == "upload"
                        else "") + "JPEG, PNG, WebP, GIF, BMP, TIFF, HEIC or AVIF. Location data is removed before "
                       "anything is sent.")
        elif source == "camera":
            shot = st.camera_input("Take a photo", key=widget_key("vision_camera"), on_change=shot_taken,
                                   resolution="1080p", disabled=busy)
            if shot is not None:
                shot_taken()
        else:
            sample_gallery()
        rejected = ss.get("vision_rejected")
        if rejected:
            st.error(rejected[1] + (" The current image stays." if ss[vs.IMAGE] is not None else ""), icon="🚫")

    prepared = None
    region: vc.Region | None = None  # the part of the photo asked about (crop tool), and how it is sent
    region_image: PreparedImage | None = None
    image: vs.CurrentImage | None = ss[vs.IMAGE]
    view = ss.setdefault("vision_view", "photo") if image is not None else "photo"
    held = ss.get(ORIGINAL)
    if held is not None and (view != "region" or image is None or held[0] != image.id):
        ss.pop(ORIGINAL, None)  # one original at most, and only while the crop tool is open (see ORIGINAL)
    if view != "sees":
        ss.pop(SEES, None)
    with image_area:
        if image is not None:
            try:
                prepared = prepared_image()
            except ImageRejected as exc:  # only if re-preparing for another detail level failed
                st.error(str(exc))
        if prepared is not None and image is not None:
            with st.container(width=vs.display_width(prepared.width, prepared.height, IMAGE_MAX_HEIGHT),
                              key="vision_picture"):
                if view == "sees":
                    what_llama_sees(image, prepared)
                elif view == "region":
                    region = crop_tool(image)
                else:
                    st.image(prepared.data, width="stretch")
            st.segmented_control("What to show", list(VIEWS), format_func=VIEWS.__getitem__, required=True,
                                 key="vision_view", on_change=view_changed, label_visibility="collapsed",
                                 disabled=busy, help=VIEWS_HELP)
            if view == "region":
                region_image = show_region(image, region)
            elif view == "sees":
                sees_caption(prepared)
            credit = next((s.stage_credit if presenter.presenting() else s.credit
                           for s in SAMPLES if image.id == "sample:" + s.key), None)
            st.caption(f"**{as_text(image.name)}** · sent to the model: {(region_image or prepared).summary}"
                       + (f"  \n{credit}" if credit else ""))
            if image.source == "transcript":
                st.caption("Opened from a transcript, which keeps only this small thumbnail: upload the original "
                           "photo for a detailed answer.")
            if offer := vs.undo_offer(ss):  # a new photo replaced a conversation: one click brings it back
                st.button(f"Undo: back to {as_text(offer)}", key="vision_undo_photo", icon=":material/undo:",
                          type="tertiary", on_click=undo_photo, disabled=busy)
            if ss.get("vision_not_kept"):
                st.caption("This photo and conversation are too large to keep on the server: a reload won't bring "
                           "them back (download the transcript to keep them).")
    if prepared is not None:
        state.keep("vision_detail", WIDGETS["vision_detail"])  # again: the image may have arrived in this run
        level = st.segmented_control("Detail", [d.key for d in DETAIL_LEVELS], required=True,
                                     format_func=lambda k: detail_level(k).label, key="vision_detail",
                                     disabled=busy, help=DETAIL_HELP)
    model = model_picker(settings, "vision")

can_send = settings.can_send and model is not None
model_name = display_name(model) if model else "Llama"
title.title(f"🖼️ Vision with {model_name}" if model or not settings.can_send
            else "🖼️ Vision: no vision model here")
intro.caption(
    "Llama 3.2 Vision sees one photo in up to four 560-px tiles (1120×1120 at most); then ask about it."
    + ("" if model_name == "Llama 3.2 90B Vision" or not model else
       f" Built for Llama 3.2 90B Vision; answering now: **{model_name} on {settings.label}**.")
)

with right:
    st.pills("What should the model do?", [p.key for p in PRESETS], format_func=lambda k: preset(k).label,
             key="vision_preset", on_change=preset_picked, disabled=busy, wrap=True)
    question_text = vs.ask_text(ss.get("vision_preset"), ss.get("vision_own"))
    with st.container(horizontal=True, gap="small", vertical_alignment="bottom"):
        st.text_input("Or ask your own question", key="vision_own", on_change=own_typed, disabled=busy,
                      max_chars=MAX_QUESTION_CHARS,
                      label_visibility="collapsed",
                      placeholder="…or type your own question")
        if st.button("Ask Llama", key="vision_ask", type="primary", icon=":material/auto_awesome:",
                     on_click=ask, disabled=busy or prepared is None or not can_send or not question_text,
                     help=None if question_text else "Pick a task or type a question.") and not busy:
            ask()  # a session's first run was this click (see the chat box below): its callback wasn't known yet
            st.rerun()
    if prepared is None and not ss[vs.TURNS]:
        st.info("Upload a photo, take one with the camera, or pick a sample: the answer appears here.", icon="📷")
    conversation = st.container()
    if prepared is not None or ss[vs.TURNS]:
        asked = st.chat_input("Ask about the chosen region…" if region_image is not None
                              else "Ask a follow-up about this image…" if ss[vs.TURNS]
                              else "Ask anything about this image…",
                              key="vision_chat", on_submit=follow_up,
                              disabled=busy or prepared is None or not can_send, max_chars=MAX_QUESTION_CHARS)
        if asked and not busy:
            # A session's very first run can be the question itself (the tab reconnected to a restarted server, or
            # to another process of a room): the box's callback is known only once the box is drawn.
            begin(asked)
            st.rerun()
    with st.container(horizontal=True, gap="small", vertical_alignment="center"):
        if ss[vs.TURNS]:
            # Built only when clicked (from a snapshot: the download is served outside this script run).
            snapshot = {k: ss.get(k) for k in (vs.ANSWERED, vs.IMAGE, vs.TURNS, vs.META)}
            export = dict(model=model or "", provider=settings.label, secrets=settings.secrets())
            st.caption("Transcript:", width="content")
            st.download_button("Markdown", lambda: vision_transcript_files(snapshot, **export)[0], "vision-transcript.md",
                               "text/markdown", key="vision_export_md", icon=":material/download:", type="tertiary",
                               disabled=busy, on_click="ignore")
            st.download_button("JSON", lambda: vision_transcript_files(snapshot, **export)[1], "vision-transcript.json",
                               "application/json", key="vision_export_json", icon=":material/download:",
                               type="tertiary", disabled=busy, on_click="ignore")
        if ss[vs.TURNS]:
            share_controls("vision", disabled=busy)
        # A popover: its uploader exists only while open, so the page has one photo drop zone.
        with st.popover("Open a transcript", icon=":material/upload_file:", type="tertiary", disabled=busy):
            st.file_uploader("A vision transcript (JSON) exported from this page", type=None, key="vision_import",
                             on_change=import_transcript, max_upload_size=MAX_TRANSCRIPT_MB)
    if ss.get("vision_import_error"):
        st.error(ss["vision_import_error"], icon="📄")

    with conversation:
        show_turns()
        for note in ss.get("vision_notes") or []:
            st.info(as_text(note, keep_code=True), icon="🔁")
        show_failure(can_send and prepared is not None)
        if pending is not None:
            if prepared is not None and can_send and model:
                sent, detail = prepared, None
                if pending.about:
                    if region is not None and region_image is not None and region.note == pending.about:
                        sent, detail = region_image, "high"  # only the region, at full detail
                    else:
                        pending.about = ""  # its region was let go before it left: it is about the whole photo
                stream_answer(pending, sent, model, detail)
            else:
                ss[vs.PENDING] = None  # nothing can be sent now: drop it rather than leave inputs disabled

last = ss.get("vision_last_request")
if prepared is not None and ss[vs.TURNS] and last:
    with st.expander("View code (Python, azure-ai-inference)"):
        st.caption("The last request, as the SDK's samples write it; save your photo as photo.jpg next to it. "
                   "The key is read from the environment, never written into the code.")
        st.code(python_snippet(shown_url(last["endpoint"]), last["model"], last["messages"], provider_id=last["provider_id"],
                               has_key=last["has_key"]), language="python")
