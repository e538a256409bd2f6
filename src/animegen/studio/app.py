"""The studio's Gradio layout: five tabs wired to :class:`~animegen.studio.handlers.Studio` methods.

Every event has an ``api_name`` (the load test and the API tests call them over HTTP). Errors from the library
(:class:`~animegen.errors.AnimegenError`) become a ``gr.Error`` with their one-line message; anything else
is logged on the server and reported as one line too, and the server keeps serving.
"""
import functools
import sys
import traceback
from collections.abc import Callable
from typing import Any

import gradio as gr

from animegen.errors import AnimegenError
from animegen.studio.engine import MAX_COUNT, MAX_FRAMES, SLIDER_RANGE
from animegen.studio.handlers import SOURCES, Studio
from animegen.studio.reference import MAX_SLIDERS
from animegen.studio.uploads import ACCEPT

TITLE = "animegen studio"
IMAGE_BUTTONS: list[Any] = ["download", "fullscreen"]
"""No share button: nothing leaves this machine."""
PRIORS_SHOWN = ("best", "auto", "standard", "fitted", "gmm")
"""``best``: the model's fitted mixture, else its fitted Gaussian, else its own prior (Engine.default_prior)."""


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn library errors into one-line ``gr.Error`` messages (and unexpected ones into a logged one-liner)."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except AnimegenError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        except Exception as exc:  # a bug, not the user's fault: keep serving, say so in one line
            traceback.print_exc(file=sys.stderr)
            raise gr.Error(f"internal error ({type(exc).__name__}); the server log has the details",
                           print_exception=False) from None

    return wrapper


def theme():
    """The default theme with system fonts only (the stock one loads web fonts from the internet)."""
    system = ["ui-sans-serif", "system-ui", "sans-serif"]
    return gr.themes.Default(font=system, font_mono=["ui-monospace", "monospace"])


CSS = ("img { image-rendering: pixelated; } "
       ".face img { width: 100% !important; height: 100% !important; object-fit: contain; }")
"""Faces arrive at the model's size; the page enlarges them without blurring."""


def _image(label: str, **kw: Any):
    """An output picture: PNG (gradio's default is WebP), not editable, no share button, shown large."""
    kw.setdefault("height", 288)
    return gr.Image(label=label, format="png", interactive=False, buttons=IMAGE_BUTTONS, elem_classes=["face"], **kw)


def _face_inputs(label: str, default_source: str, seed: int, with_none: bool = False):
    choices = (["none"] if with_none else []) + list(SOURCES)
    with gr.Group():
        src = gr.Radio(choices, value=default_source, label=f"{label}: source")
        num = gr.Number(value=seed, precision=0, minimum=0, label=f"{label}: seed")
        up = gr.File(file_types=ACCEPT, type="filepath", label=f"{label}: upload", height=110)
    return src, num, up


def build(studio: Studio):
    """The ``gr.Blocks`` app for ``studio`` (not launched)."""
    cat = studio.catalog
    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        state = gr.State(None)
        gr.Markdown(f"## {TITLE}\nFaces from a trained animegen model, on this machine only.")
        with gr.Row():
            ckpt = gr.Dropdown(cat.labels, value=cat.default, label="checkpoint", scale=3, elem_id="checkpoint")
            info = gr.Textbox(label="model", interactive=False, scale=4, elem_id="model-info")
        if cat.notes:
            gr.Markdown("\n".join(f"- {n}" for n in cat.notes))

        with gr.Tab("Generate", elem_id="tab-generate"):
            with gr.Row():
                seed = gr.Number(value=0, precision=0, minimum=0, label="seed", elem_id="gen-seed")
                count = gr.Slider(1, MAX_COUNT, value=8, step=1, label="count")
                trunc = gr.Slider(0.0, 3.0, value=0.0, step=0.1, label="truncation (0 = off)")
                prior = gr.Dropdown(list(PRIORS_SHOWN), value="best", label="prior")
            gen_btn = gr.Button("Generate", variant="primary", elem_id="gen-button")
            gallery = gr.Gallery(label="faces (click one to pick it)", format="png", columns=8, allow_preview=False,
                                 elem_id="gen-gallery", height=270,
                                 buttons=["download"])
            with gr.Row():
                picked = _image("picked", elem_id="picked", scale=1)
                with gr.Column(scale=3):
                    pick_info = gr.Textbox(label="pick", interactive=False, elem_id="pick-info")
                    var_seed = gr.Number(value=0, precision=0, minimum=0, label="variation seed")
                    var_btn = gr.Button("More like this", elem_id="more-button")
            var_gallery = gr.Gallery(label="variations: coarse (top) to fine (bottom)", format="png", columns=6,
                                     allow_preview=False, elem_id="var-gallery", height=500,
                                     buttons=["download"])

        with gr.Tab("Morph", elem_id="tab-morph"):
            with gr.Row():
                with gr.Column():
                    a = _face_inputs("A", "seed", 1)
                with gr.Column():
                    b = _face_inputs("B", "seed", 5)
            with gr.Row():
                frames = gr.Slider(2, MAX_FRAMES, value=16, step=1, label="frames")
                slerp = gr.Checkbox(value=True, label="slerp (great circle)")
                mp4 = gr.Checkbox(value=False, label="also MP4")
            morph_btn = gr.Button("Morph", variant="primary", elem_id="morph-button")
            strip = _image("frames", elem_id="morph-strip", height=320)
            with gr.Row():
                gif = gr.File(label="GIF", interactive=False, elem_id="morph-gif")
                video = gr.File(label="MP4", interactive=False, elem_id="morph-mp4")
            morph_numbers = gr.JSON(label="path numbers")

        with gr.Tab("Blend", elem_id="tab-blend"):
            faces, weights = [], []
            with gr.Row():
                for i in range(4):
                    with gr.Column():
                        faces.append(_face_inputs(f"face {i + 1}", "seed" if i < 2 else "none", i + 1,
                                                  with_none=True))
                        weights.append(gr.Slider(0.0, 1.0, value=0.5, step=0.05, label=f"weight {i + 1}"))
            blend_btn = gr.Button("Blend", variant="primary", elem_id="blend-button")
            with gr.Row():
                blended = _image("blend", elem_id="blend-out")
                blend_inputs = _image("inputs (their own decodings)")
            blend_numbers = gr.JSON(label="blend numbers")

        with gr.Tab("Edit", elem_id="tab-edit"):
            with gr.Row():
                with gr.Column(scale=1):
                    e_src, e_seed, e_up = _face_inputs("base face", "seed", 0)
                    base_btn = gr.Button("Use this face", elem_id="edit-base-button")
                    edited = _image("edited (live)", elem_id="edit-out")
                with gr.Column(scale=2):
                    sliders = [gr.Slider(-SLIDER_RANGE, SLIDER_RANGE, value=0.0, step=0.1, label=f"axis {i + 1}",
                                         visible=False, elem_id=f"edit-slider-{i}") for i in range(MAX_SLIDERS)]
                    reset_btn = gr.Button("Reset sliders")

        with gr.Tab("Inspect", elem_id="tab-inspect"):
            upload = gr.File(file_types=ACCEPT, type="filepath", label="image to inspect", elem_id="inspect-upload")
            insp_btn = gr.Button("Inspect", variant="primary", elem_id="inspect-button")
            with gr.Row():
                insp_in = _image("input (model size)")
                insp_rec = _image("reconstruction", elem_id="inspect-recon")
                insp_stats = gr.JSON(label="code statistics", open=True)
            insp_near = gr.Gallery(label="nearest reference faces", format="png", columns=6, allow_preview=False,
                                   height=200, buttons=["download"])

        # ---- events -----------------------------------------------------------------------------
        def slider_updates(names: list[str]) -> list[Any]:
            ups = [gr.update(label=n, visible=True, value=0.0) for n in names]
            return ups + [gr.update(visible=False, value=0.0)] * (MAX_SLIDERS - len(names))

        @guarded
        def on_load(sess, seed_v, count_v, trunc_v, prior_v):
            sess, text = studio.info(sess)
            sess, imgs = studio.generate(sess, seed_v, count_v, trunc_v, prior_v)
            return sess, text, imgs

        @guarded
        def on_switch(sess, label):
            sess, text = studio.switch(sess, label)
            return sess, text, None, None, None, ""

        @guarded
        def on_sliders(sess):
            sess, names = studio.slider_names(sess)
            sess, img = studio.edit(sess, [0.0] * len(names))
            return [sess, img, *slider_updates(names)]

        @guarded
        def on_pick(sess, evt: gr.SelectData):
            return studio.pick(sess, evt.index, "shown")

        @guarded
        def on_pick_variation(sess, evt: gr.SelectData):
            return studio.pick(sess, evt.index, "variations")

        gen_inputs = [state, seed, count, trunc, prior]
        demo.load(on_load, gen_inputs, [state, info, gallery], api_name="load").then(
            on_sliders, [state], [state, edited, *sliders], api_name="sliders")
        ckpt.change(guarded(on_switch), [state, ckpt], [state, info, gallery, var_gallery, picked, pick_info],
                    api_name="switch").then(on_sliders, [state], [state, edited, *sliders], api_visibility="private")
        gen_btn.click(guarded(studio.generate), gen_inputs, [state, gallery], api_name="generate")
        gallery.select(on_pick, [state], [state, picked, pick_info], api_visibility="private")
        var_gallery.select(on_pick_variation, [state], [state, picked, pick_info], api_visibility="private")
        gr.Button("pick by number", visible=False).click(
            guarded(studio.pick), [state, gr.Number(visible=False, precision=0)], [state, picked, pick_info],
            api_name="pick")
        var_btn.click(guarded(studio.variations), [state, var_seed], [state, var_gallery], api_name="variations")

        @guarded
        def on_morph(sess, a_src, a_seed, a_up, b_src, b_seed, b_up, k, use_slerp, want_mp4):
            return studio.morph(sess, (a_src, a_seed, a_up), (b_src, b_seed, b_up), k, use_slerp, want_mp4)

        morph_btn.click(on_morph, [state, *a, *b, frames, slerp, mp4], [state, strip, gif, video, morph_numbers],
                        api_name="morph")

        @guarded
        def on_blend(sess, *vals):
            fs = [tuple(vals[3 * i : 3 * i + 3]) for i in range(4)]
            return studio.blend(sess, fs, list(vals[12:16]))

        blend_btn.click(on_blend, [state, *[c for f in faces for c in f], *weights],
                        [state, blended, blend_inputs, blend_numbers], api_name="blend")

        @guarded
        def on_edit(sess, *values):  # the session is read, not written back: a slider reply stays small
            sess, names = studio.slider_names(sess)
            return studio.edit(sess, list(values)[: len(names)])[1]

        @guarded
        def on_base(sess, src, sd, up):
            sess, _ = studio.edit_base(sess, src, sd, up)
            return on_sliders(sess)

        base_btn.click(on_base, [state, e_src, e_seed, e_up], [state, edited, *sliders], api_name="edit_base")
        for s in sliders:
            # a slider move skips the queue (one HTTP request, answered directly): the live preview stays quick
            s.input(on_edit, [state, *sliders], [edited], api_visibility="private", trigger_mode="always_last",
                    show_progress="hidden", queue=False)
        hidden_vals = [gr.Number(visible=False) for _ in range(MAX_SLIDERS)]
        gr.Button("edit by values", visible=False).click(on_edit, [state, *hidden_vals], [edited],
                                                        api_name="edit", queue=False)
        reset_btn.click(on_sliders, [state], [state, edited, *sliders], api_visibility="private")
        insp_btn.click(guarded(studio.inspect), [state, upload], [state, insp_in, insp_rec, insp_near, insp_stats],
                       api_name="inspect")
    return demo
