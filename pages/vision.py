"""Vision: a Llama (built for 3.2 90B Vision) describes a photo (upload, camera or sample) and answers follow-ups.

Layout for a 1280×720 projector: the picture on the left, the question and the conversation on the right, so the
answer sits next to the image. Under the photo, "What Llama sees" puts a slider between the upload and the image sent
in its place, and "Region" a crop tool: a question is then about that part only, cut from the original. A question
is stored as pending before its answer streams (lib.vision.conversation), so Stop or any other click keeps the
question and what arrived, marked stopped.

Every word it shows is in lib/i18n/*/vision.toml (and conversation.toml), in English and Korean. Llama 3.2 Vision
answers image questions in English only: under the first question that isn't English, one line says so and, for a
Korean question (or a Korean interface), "Answer in Korean" asks in English and has the model translate its answer
(lib.vision.translate).
"""

from __future__ import annotations

import contextlib
import json
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
from lib.hosts.limits import wait_msg, wait_notice  # noqa: E402
from lib.common.ticking import Tick, ticking  # noqa: E402
from lib.answers.transcript import (  # noqa: E402
    TranscriptError, import_vision_transcript, vision_transcript_files)
from lib.vision.tasks import (  # noqa: E402
    DETAIL_LEVELS, PRESETS, SAMPLES, detail_level, looks_english, preset, preset_for_prompt, sample)
from lib.vision.answer import VisionAnswer, free_replay  # noqa: E402
from lib.vision import crop as vc  # noqa: E402
from lib.vision.translate import (  # noqa: E402
    ANSWER, QUESTION, TRANSLATION, TranslatedAnswer, join_pieces, looks_korean,
)
from ui import presenter, state  # noqa: E402
from ui.connection import context_tokens, current_settings, model_picker, next_model_fn, shown_url  # noqa: E402
from ui.compare import compare_switch, other_side, vision_compare  # noqa: E402
from ui.conversation import LiveAnswer, ProgressLine, earlier_turns, show_error  # noqa: E402
from ui.i18n import language, say, t  # noqa: E402
from ui.meter import count_requests  # noqa: E402
from ui.rehearsal import stream_opener  # noqa: E402
from ui.sidebar import setup_panel  # noqa: E402
from ui.sharing import share_controls, show_shared_view  # noqa: E402

if show_shared_view("vision"):  # a read-only link someone shared: their photo conversation, nothing else
    st.stop()

LANG = language()  # "en" or "ko": this session's words (ui/i18n.py)
# Option values stay the same in every language; their words come from the catalogue (vision.source.*, vision.view.*).
SOURCES = {"upload": ":material/upload:", "camera": ":material/photo_camera:", "sample": ":material/photo_library:"}
DETAIL_HELP = "  \n".join(f"**{d.label_in(LANG)}:** {d.explanation_in(LANG)}" for d in DETAIL_LEVELS)
MAX_TRANSCRIPT_MB = presenter.UPLOAD_LIMITS_MB["vision_import"]  # its "N MB per file" in Korean too
IMAGE_MAX_HEIGHT = 360  # px on screen, so a portrait photo leaves room for everything else at 1280×720
WIDGETS = {"vision_source": "upload", "vision_preset": PRESETS[0].key, "vision_own": "", "vision_detail": "high"}
# What the photo's place shows: the photo, the slider between it and what is sent, or the crop tool.
VIEWS = {"photo": ":material/image:", "sees": ":material/compare:", "region": ":material/crop:"}


def source_label(key: str) -> str:
    """A photo source's option: its icon and its word ("Upload")."""
    return f"{SOURCES[key]} {t(f'vision.source.{key}')}"


def view_label(key: str) -> str:
    """An option of the Photo / What Llama sees / Region control."""
    return f"{VIEWS[key]} {t(f'vision.view.{key}')}"


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
  content: %(drop)s; font-size: 0.875rem; }
</style>""" % {"drop": json.dumps(t("vision.upload.drop", mb=MAX_UPLOAD_MB), ensure_ascii=False)}
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
        restored = vs.restore(ss, state.load("vision"), state.load_blob("vision"), lang=LANG)
        if restored:
            for key, value in restored.settings.items():
                if key in WIDGETS and key not in ss and (key != "vision_detail" or restored.image):
                    ss[key] = value
            if restored.turns:
                st.toast(t("vision.restored_one" if restored.turns == 2 else "vision.restored_many",
                           count=restored.turns // 2), icon="↩️")
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
if vs.settle_interrupted(ss, LANG):  # the last run was cut short (Stop, another click, a page switch)
    save()
pending: vs.Pending | None = ss[vs.PENDING]
busy = pending is not None

# "Answer in Korean" (the switch beside the English-only note): the person's own choice once they flip it, kept while
# the switch is not drawn; until then on in the Korean interface, off in the English one.
ANSWER_KO, ANSWER_KO_CHOICE = "vision_answer_ko", "vision_answer_ko_choice"
NOTE = {"drawn": False}  # the English-only note is drawn once a run, under the first question that isn't English


def answer_in_korean() -> bool:
    """Whether "Answer in Korean" is on."""
    choice = ss.get(ANSWER_KO_CHOICE)
    return bool(choice) if choice is not None else LANG == "ko"


def answer_ko_switched() -> None:
    """The "Answer in Korean" switch was flipped: that is the choice from now on."""
    ss[ANSWER_KO_CHOICE] = bool(ss.get(ANSWER_KO))


def offers_korean(question: str) -> bool:
    """Whether a question that isn't English gets the "Answer in Korean" switch: a Korean one, or any in the Korean
    interface."""
    return LANG == "ko" or looks_korean(question)


def translated(question: str) -> bool:
    """Whether `question` is asked in English and answered in Korean (lib.vision.translate)."""
    return not looks_english(question) and offers_korean(question) and answer_in_korean()


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
        ss["vision_rejected"] = (image_id, t("vision.cannot_use", name=display_markdown(name), reason=say(exc.reason)))
        st.toast(t("vision.cannot_use_toast", name=display_markdown(name), reason=say(exc.reason)), icon="🚫")
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


SCENARIOS = (  # presenter mode: one click picks the photo and asks (its words: vision.scenario.<sample>)
    ("shopfront", "read_text"),
    ("cat", "describe"),
    ("astronaut", "unusual"),
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
        ss["vision_import_error"] = t("vision.transcript.cannot_open", name=as_text(upload.name),
                                      reason=as_text(say(exc.reason)))
        return
    ss["vision_rejected"] = None
    save()
    st.toast(t("vision.transcript.opened_one" if n == 2 else "vision.transcript.opened_many", name=as_text(upload.name),
               count=n // 2), icon="📄")


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
            st.image(ss["vision_thumbs"][item.key], width=48, alt=item.credit_in(LANG).split(". ")[0])
            st.pills(t("vision.sample.card", name=item.label_in(LANG).lower()), [item.key],
                     format_func=lambda _k, x=item: x.label_in(LANG),
                     key=f"vision_sample_{item.key}", on_change=pick_sample, args=(item.key,),
                     label_visibility="collapsed", disabled=busy)


def alt_text(image: vs.CurrentImage) -> str:
    """The photo in use, for a screen reader: a sample's own description; an uploaded photo the model's alt-text
    answer once this conversation has one (the "Alt text" task), else its file name and size."""
    sample = next((s for s in SAMPLES if image.id == "sample:" + s.key), None)
    if sample is not None:
        return sample.credit_in(LANG).split(". ")[0]
    turns = ss[vs.TURNS]
    for (role, asked), (answer_role, answer) in zip(turns[-2::-1], turns[::-1]):
        chosen = preset_for_prompt(asked) if role == "user" else None
        if chosen is not None and chosen.key == "alt_text" and answer_role == "assistant" and answer.strip():
            return answer.strip()[:300]
    m = image.master
    return t("vision.image.alt_file", name=image.name, width=m.width, height=m.height)


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
    before, after = vc.compare_labels(prepared, LANG)
    # Top and bottom, so each label has the whole width (side by side, the photo's would cover the other's).
    image_compare_slider(image.master.data, ss[SEES][1], label1=before, label2=after, portrait=True,
                         key="vision_sees_slider")


def sees_caption(prepared: PreparedImage) -> None:
    """Under the slider, in the page's own (presenter-sized) text: what the two halves are."""
    columns, rows, _scale = vc.tiles(prepared.width, prepared.height)
    tiled = t("vision.sees.tiled") if columns * rows > 1 else ""
    st.caption(t("vision.sees.caption", facts=vc.sent_facts(prepared, LANG), tiled=tiled))


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
            st.error(t("vision.region.cannot_cut", reason=say(exc.reason)), icon="✂️")
    # One line: the caption wraps beside the button rather than pushing it below (the photo's column is narrow).
    with st.container(horizontal=True, vertical_alignment="center", gap="small", wrap=False,
                      key="vision_region_line"):
        if sent is None or region is None:
            st.caption(t("vision.region.drag"))
        else:
            how = (t("vision.region.full") if (sent.width, sent.height) == (region.width, region.height)
                   else t("vision.region.sent_as", width=sent.width, height=sent.height))
            st.caption(t("vision.region.asking", label=region.label_in(LANG), how=how))
        st.button(t("vision.region.whole"), key="vision_whole_photo", icon=":material/crop_free:", type="tertiary",
                  on_click=whole_photo, disabled=busy, help=t("vision.region.whole_help"))
    if original_of(image) is None and image.source in ("upload", "camera"):
        st.caption(t("vision.region.from_copy"))
    return sent


def show_question(text: str) -> None:
    """A question as asked; a preset shows its short label (the full prompt in its tooltip and in the export)."""
    chosen = preset_for_prompt(text)
    if chosen is None:
        st.markdown(display_markdown(text))
    else:
        st.markdown(f"**{chosen.label_in(LANG)}**", help=text)


def english_only_note(question: str) -> None:
    """Under the first question of the conversation drawn in this run that isn't English: one line saying Llama 3.2
    Vision answers image questions in English only and, for a Korean question or in the Korean interface, the
    "Answer in Korean" switch (on by default in Korean). Once per run, so not under every follow-up."""
    if NOTE["drawn"] or looks_english(question):
        return
    NOTE["drawn"] = True
    # One short line (the whole sentence, with the model's name, is the switch's tooltip), the switch under it: at
    # 1280×720 the question's bubble is ~320 px wide, and the answer must stay in view.
    with st.container(gap="small", key="vision_english_note"):
        st.caption(t("vision.korean.note"))
        if offers_korean(question):
            ss[ANSWER_KO] = answer_in_korean()  # the person's choice, or the interface's default
            st.toggle(t("vision.korean.answer_ko"), key=ANSWER_KO, on_change=answer_ko_switched, disabled=busy,
                      help=t("vision.korean.answer_ko_help"))


def english_original(question: str | None, answer: str) -> None:
    """A translated answer's English original (and the question as sent), in a small closed expander."""
    with st.expander(t("vision.korean.english_original"), icon=":material/translate:"):
        if question:
            st.caption(t("vision.korean.english_question", question=as_text(question)))
        st.markdown(display_markdown(answer))


def show_turns() -> None:
    """The conversation so far: questions, answers, and each answer's footer (who answered, time, or stopped); a
    translated answer with its English original."""
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
                st.markdown(t("vision.turn.no_text"))
            if role == "assistant" and (english := vs.english_of(ss, i)):
                english_original(vs.english_of(ss, i - 1), english)
            if i in meta:
                # an imported transcript's footers are untrusted: shown as written (a region's, in this language)
                st.caption(as_text(vc.shown_note(meta[i], LANG) if role == "user" else meta[i]))
                last = i == len(turns) - 1
                if last and role == "assistant" and free_replay(meta[i]) and ss[vs.PENDING] is None:
                    st.button(t("vision.turn.fresh"), key="vision_fresh", icon=":material/refresh:", type="tertiary",
                              on_click=ask_again_fresh, help=t("vision.turn.fresh_help"))
            if role == "user":
                english_only_note(text)


def show_failure(can_retry: bool) -> None:
    """The question that failed, any text that arrived (no cursor), the explained error and Retry if it can help."""
    failed: vs.Failure | None = ss[vs.FAILED]
    if failed is None:
        return
    with st.chat_message("user"):
        show_question(failed.question)
        if failed.about:
            st.caption(as_text(vc.shown_note(failed.about, LANG)))
        english_only_note(failed.question)
    with st.chat_message("assistant", avatar="🦙"):
        if failed.partial:
            st.markdown(display_markdown(failed.partial))
            st.caption(t("vision.turn.cut_off"))
        show_error(error_as_text(failed.error))
        if failed.error.retry_helps and can_retry:
            st.button(t("vision.turn.retry"), key="vision_retry", icon=":material/refresh:", on_click=retry)


def stream_answer(pending: vs.Pending, prepared: PreparedImage, model: str, detail: str | None = None) -> None:
    """Stream the pending question's answer about `prepared` (the photo, or only a region of it) with a live status
    line and Stop; then redraw from state. A question to answer in Korean (`translated`) takes three requests: its
    English, the answer in English (drawn as it comes), then the Korean answer in its place, the English kept in an
    expander under it."""
    with st.chat_message("user"):
        show_question(pending.question)
        if pending.about:
            st.caption(as_text(vc.shown_note(pending.about, LANG)))
        english_only_note(pending.question)
    presenter.bring_question_into_view()  # on a projector: the question at the top, its answer streaming below
    korean = translated(pending.question)
    with st.chat_message("assistant", avatar="🦙"):
        with st.container(horizontal=True, vertical_alignment="center", gap="small", key="vision_progress"):
            status = ProgressLine(st.empty())
            st.button(t("conversation.stop"), key="vision_stop", icon=":material/stop_circle:",
                      on_click=vs.request_stop, args=(ss,), help=t("vision.turn.stop_help"))
        live = LiveAnswer(st.empty())  # finished paragraphs drawn once, the current one paced
        original = st.empty()  # a translated answer: its English, once the Korean streams in its place
        # Everything that reads session state is resolved here: the answer streams in a worker thread (ticking).
        # Earlier translated turns go as the model saw and wrote them, in English.
        turns = vs.request_turns(vs.in_english(ss[vs.TURNS], ss.get(vs.ENGLISH)), pending.question, ss[vs.META],
                                 pending.about)
        options = dict(next_model=next_model_fn(settings, "vision"),
                       detail=detail or detail_level(ss.get("vision_detail") or "high").api_detail,
                       open_stream=stream_opener(fresh=ss.pop("vision_fresh", False)),
                       context_tokens=context_tokens(settings, model), lang=LANG)
        answer: VisionAnswer | TranslatedAnswer = (
            TranslatedAnswer(settings, model, prepared.data_url, turns, **options) if korean
            else VisionAnswer(settings, model, prepared.data_url, turns, **options))
        pending.answered_by = answer.answered_by
        pending.started = True
        save()  # a reload during the answer finds the question (it comes back marked stopped)
        started = time.monotonic()
        words = {key: t(f"vision.progress.{key}") for key in (
            "looking", "writing", "writing_english", "translating_question", "translating_answer")}

        def label() -> str:
            if isinstance(answer, TranslatedAnswer):
                step = {QUESTION: words["translating_question"], TRANSLATION: words["translating_answer"]}.get(
                    answer.step, words["writing_english"] if answer.english else words["looking"])
            else:
                step = words["writing"] if answer.text else words["looking"]
            if answer.model != model:  # the first model was retired or not found: the next one is answering
                step = t("vision.progress.another", step=step)
            return t("vision.progress.line", model=display_name(answer.model), step=step,
                     seconds=int(pending.elapsed_s))

        line = {"position": 0}  # set by the worker thread while it waits for a free slot at the provider

        def pieces():
            """The answer as (step, piece), streamed in ticking()'s worker thread, reporting any wait for a free
            slot."""
            with wait_notice(lambda n: line.__setitem__("position", n)):
                if isinstance(answer, TranslatedAnswer):
                    yield from answer.events()
                else:
                    for piece in answer:
                        yield ANSWER, piece

        status.show(label())
        items = ticking(pieces(), interval_s=0.5, merge=join_pieces)  # a busy server draws what waits at once
        ss["vision_live_items"] = items  # the next run closes it if this one is interrupted before its `finally`
        shown = ANSWER
        try:
            for item in items:
                pending.elapsed_s = time.monotonic() - started
                pending.answered_by = answer.answered_by
                if not isinstance(item, Tick):
                    step, piece = item
                    if step == TRANSLATION and shown != TRANSLATION:  # the Korean answer takes the English's place
                        shown = TRANSLATION
                        live.clear()
                        with original.container():
                            english_original(answer.question_en, answer.english)
                    if step != QUESTION:
                        live.add(piece)
                        pending.partial = answer.partial if isinstance(answer, TranslatedAnswer) else answer.text
                status.show(say(wait_msg(line['position'])) if line['position'] else label())
        except Exception as exc:  # noqa: BLE001 - explained and shown after the rerun, with Retry if it helps
            vs.fail(ss, pending.question, explain(exc),
                    answer.partial if isinstance(answer, TranslatedAnswer) else answer.text)
        else:
            if items.cancelled:
                st.stop()  # the next run (already started, on another thread) stopped this one: it stays stopped
            summary = answer.summary
            if isinstance(answer, TranslatedAnswer):
                summary += " · " + t("vision.footer.translated")
            vs.finish(ss, pending.question, answer.text, summary, answer.model, settings.label)
            if isinstance(answer, TranslatedAnswer):
                vs.keep_english(ss, answer.question_en, answer.english)
            count_requests(answer.requests)  # the sidebar's "This session"
            ss["vision_notes"] = list(answer.notes) + ([t("vision.turn.system_moved")] if answer.fell_back else [])
            ss["vision_last_request"] = dict(endpoint=settings.endpoint, model=answer.model,
                                             messages=vs.without_image_data(answer.messages),
                                             provider_id=settings.provider_id, has_key=bool(settings.token))
            save()
        finally:
            items.close()  # Stop or any other click: the worker stops and the request is hung up at once
            ss.pop("vision_live_items", None)
    st.rerun()  # redraw from state: inputs enabled again, Retry right after a failure


# --- the page --------------------------------------------------------------------------------------------------------

st.html(PAGE_CSS + (STAGE_CSS if presenter.presenting() else ""))  # the button's word: ui/presenter.py
title = st.empty()
intro = st.empty()
if not settings.can_send:
    setup_panel(settings, compact=True)

if presenter.presenting():
    with st.container(horizontal=True, gap="small"):
        for sample_key, preset_key in SCENARIOS:
            st.button(t(f"vision.scenario.{sample_key}"), key=f"vision_scenario_{sample_key}", icon=":material/play_arrow:", on_click=scenario,
                      args=(sample_key, preset_key), disabled=busy or not settings.can_send)

left, right = st.columns([1, 1], gap="medium")
with left:
    # Filled below, once the source widgets have run: the picture comes first (and stays in view on stage).
    image_area = st.container(key="vision_image_area")
    with st.container(border=False):
        source = st.segmented_control(t("vision.source.label"), list(SOURCES), format_func=source_label,
                                      required=True, key="vision_source", label_visibility="collapsed",
                                      disabled=busy)
        if source == "upload":
            # Taken in its callback (before this run draws anything): an accepted photo's uploader is drawn anew,
            # empty, in this very run (see `release`).
            up = st.file_uploader(
                t("vision.upload.label", mb=MAX_UPLOAD_MB),
                type=None, key=widget_key("vision_upload"), on_change=uploaded, disabled=busy,
                label_visibility="collapsed",
                help=t("vision.upload.help"),
            )
            if up is not None:
                uploaded()  # a file the callback has not seen (a restored widget value): the same
            elif (ss.get("vision_rejected") or ("",))[0].startswith("upload:"):
                ss["vision_rejected"] = None  # the refused file was removed from the uploader
            in_use = ss[vs.IMAGE]
            st.caption((t("vision.upload.in_use", name=as_text(in_use.name)) + " "
                        if in_use is not None and in_use.source == "upload" else "") + t("vision.upload.formats"))
        elif source == "camera":
            shot = st.camera_input(t("vision.camera.label"), key=widget_key("vision_camera"), on_change=shot_taken,
                                   resolution="1080p", disabled=busy)
            if shot is not None:
                shot_taken()
        else:
            sample_gallery()
        rejected = ss.get("vision_rejected")
        if rejected:
            st.error(rejected[1] + (" " + t("vision.image_stays") if ss[vs.IMAGE] is not None else ""), icon="🚫")

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
                st.error(say(exc.reason))
        if prepared is not None and image is not None:
            with st.container(width=vs.display_width(prepared.width, prepared.height, IMAGE_MAX_HEIGHT),
                              key="vision_picture"):
                if view == "sees":
                    what_llama_sees(image, prepared)
                elif view == "region":
                    region = crop_tool(image)
                else:
                    st.image(prepared.data, width="stretch", alt=alt_text(image))
            st.segmented_control(t("vision.view.label"), list(VIEWS), format_func=view_label, required=True,
                                 key="vision_view", on_change=view_changed, label_visibility="collapsed",
                                 disabled=busy, help=t("vision.view.help"))
            if view == "region":
                region_image = show_region(image, region)
            elif view == "sees":
                sees_caption(prepared)
            credit = next((s.credit_in(LANG, stage=presenter.presenting())
                           for s in SAMPLES if image.id == "sample:" + s.key), None)
            st.caption(t("vision.view.sent", name=as_text(image.name), summary=(region_image or prepared).summary_in(LANG))
                       + (f"  \n{credit}" if credit else ""))
            if image.source == "transcript":
                st.caption(t("vision.view.from_transcript"))
            if offer := vs.undo_offer(ss, LANG):  # a new photo replaced a conversation: one click brings it back
                st.button(t("vision.view.undo", what=as_text(offer)), key="vision_undo_photo", icon=":material/undo:",
                          type="tertiary", on_click=undo_photo, disabled=busy)
            if ss.get("vision_not_kept"):
                st.caption(t("vision.view.not_kept"))
    if prepared is not None:
        state.keep("vision_detail", WIDGETS["vision_detail"])  # again: the image may have arrived in this run
        level = st.segmented_control(t("vision.detail.label"), [d.key for d in DETAIL_LEVELS], required=True,
                                     format_func=lambda k: detail_level(k).label_in(LANG), key="vision_detail",
                                     disabled=busy, help=DETAIL_HELP)
    model = model_picker(settings, "vision")
    compare = compare_switch("vision", disabled=busy)  # the same photo and question to two models (ui/compare.py)
    other = other_side(settings, model, "vision") if compare and model and settings.can_send else None

can_send = settings.can_send and model is not None
model_name = display_name(model) if model else "Llama"
title.title(t("vision.title", model=model_name) if model or not settings.can_send else t("vision.title_no_model"))
intro.caption(
    t("vision.intro")
    + ("" if model_name == "Llama 3.2 90B Vision" or not model else
       " " + t("vision.intro_answering", model=model_name, host=say(settings.label_msg)))
)

with right:
    st.pills(t("vision.preset.label"), [p.key for p in PRESETS], format_func=lambda k: preset(k).label_in(LANG),
             key="vision_preset", on_change=preset_picked, disabled=busy, wrap=True)
    question_text = vs.ask_text(ss.get("vision_preset"), ss.get("vision_own"))
    with st.container(horizontal=True, gap="small", vertical_alignment="bottom"):
        st.text_input(t("vision.ask.own_label"), key="vision_own", on_change=own_typed, disabled=busy,
                      max_chars=MAX_QUESTION_CHARS,
                      label_visibility="collapsed",
                      placeholder=t("vision.ask.own_placeholder"))
        if st.button(t("vision.ask.button"), key="vision_ask", type="primary", icon=":material/auto_awesome:",
                     on_click=ask, disabled=busy or prepared is None or not can_send or not question_text,
                     help=None if question_text else t("vision.ask.help")) and not busy:
            ask()  # a session's first run was this click (see the chat box below): its callback wasn't known yet
            st.rerun()
    if prepared is None and not ss[vs.TURNS]:
        st.info(t("vision.empty"), icon="📷")
    conversation = st.container(key="vision_conversation")  # a landmark named "Conversation" (ui/a11y.py)
    if prepared is not None or ss[vs.TURNS]:
        asked = st.chat_input(t("vision.ask.chat_region") if region_image is not None
                              else t("vision.ask.chat_follow_up") if ss[vs.TURNS]
                              else t("vision.ask.chat_first"),
                              key="vision_chat", on_submit=follow_up,
                              disabled=busy or prepared is None or not can_send, max_chars=MAX_QUESTION_CHARS)
        if asked and not busy:
            # A session's very first run can be the question itself (the tab reconnected to a restarted server, or
            # to another process of a room): the box's callback is known only once the box is drawn.
            begin(asked)
            st.rerun()
    with st.container(horizontal=True, gap="small", vertical_alignment="center"):
        if ss[vs.TURNS] and not compare:
            # Built only when clicked (from a snapshot: the download is served outside this script run).
            snapshot = {k: ss.get(k) for k in (vs.ANSWERED, vs.IMAGE, vs.TURNS, vs.META)}
            export = dict(model=model or "", provider=settings.label, secrets=settings.secrets(), lang=LANG)
            st.caption(t("vision.transcript.label"), width="content")
            st.download_button(t("vision.transcript.markdown_name"), lambda: vision_transcript_files(snapshot, **export)[0], "vision-transcript.md",
                               "text/markdown", key="vision_export_md", icon=":material/download:", type="tertiary",
                               disabled=busy, on_click="ignore")
            st.download_button(t("vision.transcript.json_name"), lambda: vision_transcript_files(snapshot, **export)[1], "vision-transcript.json",
                               "application/json", key="vision_export_json", icon=":material/download:",
                               type="tertiary", disabled=busy, on_click="ignore")
        if ss[vs.TURNS] and not compare:
            share_controls("vision", disabled=busy)
        # A popover: its uploader exists only while open, so the page has one photo drop zone.
        with st.popover(t("vision.transcript.open"), icon=":material/upload_file:", type="tertiary", disabled=busy):
            st.file_uploader(t("vision.transcript.open_label"), type=None, key="vision_import",
                             on_change=import_transcript, max_upload_size=MAX_TRANSCRIPT_MB)
    if ss.get("vision_import_error"):
        st.error(ss["vision_import_error"], icon="📄")

    compared: tuple[str, str, str] | None = None  # Compare: (question, data URL, detail), asked below
    with conversation:
        if not compare:
            show_turns()
            for note in ss.get("vision_notes") or []:
                st.info(as_text(note, keep_code=True), icon="🔁")
            show_failure(can_send and prepared is not None)
        if pending is not None and compare:
            ss[vs.PENDING] = None  # asked of both models below, not added to the single conversation
            if prepared is not None and can_send and model:
                sent, detail = prepared, detail_level(ss.get("vision_detail") or "high").api_detail
                if pending.about and region is not None and region_image is not None and region.note == pending.about:
                    sent, detail = region_image, "high"
                compared = (pending.question, sent.data_url, detail)
        elif pending is not None:
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

if compare:  # full width below the photo and the question: two columns of answers
    shown = ss[vs.IMAGE]
    vision_compare(settings, model, other, shown.id if shown is not None else None,
                   prepared.data_url if prepared is not None else None,
                   detail_level(ss.get("vision_detail") or "high").api_detail,
                   compared[0] if compared else None, can_send, VisionAnswer,
                   asked=(compared[1], compared[2]) if compared else None)

last = ss.get("vision_last_request")
if prepared is not None and ss[vs.TURNS] and last and not compare:
    with st.expander(t("vision.code.expander"), key="vision_code_box"):  # keyed: stays open across a language switch
        st.caption(t("vision.code.caption"))
        st.code(python_snippet(shown_url(last["endpoint"]), last["model"], last["messages"], provider_id=last["provider_id"],
                               has_key=last["has_key"]), language="python")
