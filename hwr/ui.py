"""Stage: the app's Streamlit layer. The one module that imports streamlit.

The pages stay views (a widget, one call here or in the library, rendering); what they share lives
here: the recognizer loaded once per model file, the decoder select box, the way a prediction is
shown (text, confidence, model input, CTC plot, beam alternatives), the canvas and upload doors,
and the evaluation table the Errors page browses. Cached functions never call ``st.*``: progress
and messages are drawn by their callers.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import re
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from hwr import config, metrics
from hwr.alphabet import Alphabet
from hwr.data import DataError, Sample, default_selections, image_dir, load_split, parse_selection
from hwr.decode import DECODERS, decode
from hwr.evaluation import COLUMNS, evaluate
from hwr.folders import FOLDERS_ENV, FolderError, allowed_folders, hide_paths, hide_paths_in
from hwr.intervals import DIGITS, Interval
from hwr.preprocess import ImageError, has_ink, preprocess, to_uint8
from hwr.recognizer import ModelFileError, Prediction, Recognizer, load_recognizer, metadata_path

log = logging.getLogger(__name__)

#: Environment variable naming the model file (default: config.DEFAULT_MODEL).
MODEL_ENV = "HWR_MODEL"
DECODER_LABELS = {"greedy": "greedy (best path)", "beam": "beam search", "lexicon": "beam + name list"}
DECODER_HELP = ("**greedy**: the most probable character at each step, the fastest. **beam search**: "
                "the most probable whole readings. **beam + name list**: a known name where the image "
                "supports it nearly as well as the free reading. All report the same confidence, "
                "P(text | image).")
#: Originals above this many pixels are not previewed (the model still reads them).
PREVIEW_MAX_PIXELS = 25_000_000
CHUNK = 64
#: Seconds between two looks at a model that is still loading.
POLL_S = 0.25


# ---------------------------------------------------------------- the pages
#: (file, title, icon, what it is for): app.py's navigation and Home's links, in menu order.
PAGES = [
    ("pages/0_Home.py", "Home", ":material/home:", "what the model is and how well it reads"),
    ("pages/1_Draw.py", "Draw", ":material/draw:",
     "write a name with the mouse, a pen or a finger and watch it read"),
    ("pages/2_Upload.py", "Upload", ":material/upload_file:",
     "read your own scans or photos, one or many, or take a photo, and download a CSV"),
    ("pages/3_Errors.py", "Errors", ":material/manage_search:",
     "browse the mistakes on the evaluation set, filter and inspect them"),
    ("pages/4_Model.py", "Model", ":material/memory:",
     "architecture, training curves, metrics per decoder and per character"),
]


# ---------------------------------------------------------------- the model, loaded in the background
#: The one thread that loads models, so every page draws its widgets while the model loads.
LOADER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hwr-model-loader")


def model_path() -> Path:
    """The model file: ``$HWR_MODEL`` when set, else the project's default."""
    return Path(os.environ.get(MODEL_ENV) or config.DEFAULT_MODEL)


def _stamp(path: Path) -> float:
    """The file's modification time, so a retrained model replaces the cached one."""
    return path.stat().st_mtime if path.is_file() else 0.0


def _load(path: str) -> Recognizer:
    """Runs on the loader thread: the model, its first compiled calls traced before any reading."""
    rec = load_recognizer(path)
    blank = np.ones((2, rec.spec.height, rec.spec.width), np.float32)
    rec.read_arrays(blank[:1])
    rec.log_probs(blank)
    log.info("model %s ready", Path(path).name)
    return rec


@st.cache_resource(show_spinner=False, max_entries=4)
def _loading(path: str, stamp: float) -> Future:
    """One load per model file version, shared by every session; a failure stays in the Future."""
    return LOADER.submit(_load, path)


def start_loading() -> Future:
    """Start loading the model (once per file version) and return at once; app.py calls it first."""
    path = model_path()
    return _loading(str(path), _stamp(path))


@st.cache_data(show_spinner=False, max_entries=8)
def _read_metadata(path: str, stamp: float) -> dict | None:
    """The model's JSON metadata, or None when it cannot be read (the loader then says why)."""
    try:
        meta = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        log.warning("cannot read the model metadata %s: %s", path, err)
        return None
    return meta if isinstance(meta, dict) else None


@dataclass(frozen=True)
class ModelCard:
    """What the pages know at once, from the metadata, while the recognizer loads in the background.

    It has ``path`` and ``metadata`` as a ``Recognizer`` has, so the metadata helpers below take
    either; pages call ``recognizer()``, which waits for the model, only where they need the model.
    """

    path: Path
    metadata: dict
    alphabet: Alphabet
    has_lexicon: bool
    loading: Future = field(repr=False)

    @property
    def ready(self) -> bool:
        return self.loading.done()

    def preprocess(self, source) -> np.ndarray:
        """The shared preprocessing at the model's input size, as ``Recognizer.preprocess``, unloaded."""
        spec = self.metadata.get("spec")
        spec = spec if isinstance(spec, dict) else {}
        return preprocess(source, int(spec.get("height", config.IMG_HEIGHT)),
                          int(spec.get("width", config.IMG_WIDTH)))

    def recognizer(self) -> Recognizer:
        """The loaded recognizer (a spinner while it loads), or the loader's message and the page's end."""
        return _wait(self.loading, self.path)


def model_problem(err: ModelFileError, path: Path) -> str:
    """The loader's one-line message as a visitor may see it: file names, no server folders."""
    return hide_paths(str(err), {path.parent: ""})


def _wait(loading: Future, path: Path) -> Recognizer:
    """The loaded recognizer, waiting for it under a spinner; or the loader's message and the page's end."""
    if not loading.done():
        note = st.empty()
        with st.spinner("Loading the model (the first start of the app only)…"):
            started = time.monotonic()
            while not wait([loading], timeout=POLL_S).done:
                # each update hands control to Streamlit, which ends this run at once when the
                # visitor moves on (another page, a new upload) instead of after the load
                note.caption(f"Waiting for the model: {time.monotonic() - started:.0f} s")
        note.empty()
    try:
        return loading.result()
    except ModelFileError as err:
        problem = model_problem(err, path)
    st.error(f"**No model could be loaded.** {problem}\n\nTrain one with `python train.py`, or set "
             f"the `{MODEL_ENV}` environment variable to a model file.", icon=":material/error:")
    st.stop()


def navigation():
    """The app's menu: one ``st.Page`` per entry of ``PAGES``, Home the default; app.py runs its pick."""
    return st.navigation([st.Page(path, title=title, icon=icon, default=i == 0)
                          for i, (path, title, icon, _) in enumerate(PAGES)])


def _use_app_navigation() -> None:
    """Run app.py, with its menu, in place of a page that Streamlit ran without it (once a process).

    Streamlit runs an app beside a ``pages/`` folder as a legacy multipage app until some run has
    called ``st.navigation``: a fresh server's first request for ``/Upload`` ran
    ``pages/2_Upload.py`` alone, under the automatic menu ("app", no icons), and kept doing so on
    each rerun until someone opened the home page. Streamlit keeps that mode in one flag, which
    ``st.navigation`` clears; clearing it here and rerunning runs app.py on the same page (a page's
    id is its URL path in both modes). Declaring the menu from the page instead lost the uploads
    made on it. A button's click is lost in that rerun, so buttons act through callbacks.
    """
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def model_card() -> ModelCard:
    """The model's card now (its loading started); when even its metadata is unusable, the error.

    Every page calls it first, so it is also where a page run without app.py hands over to it.
    """
    _use_app_navigation()
    path = model_path()
    loading = start_loading()
    meta_file = metadata_path(path)
    meta = _read_metadata(str(meta_file), _stamp(meta_file)) if path.is_file() else None
    try:
        alphabet = Alphabet(meta["alphabet"]) if meta else None
    except (KeyError, TypeError, ValueError):
        alphabet = None
    if meta is None or alphabet is None:
        # the loader checks the files before loading anything, so its message comes at once
        rec = _wait(loading, path)
        meta, alphabet = rec.metadata, rec.alphabet
    return ModelCard(path, meta, alphabet, config.default_lexicon().is_file(), loading)


def loading_note(card: ModelCard) -> None:
    """A line under a page that has nothing to read yet: the model is loading, or could not be."""
    if not card.ready:
        st.caption("The model is loading in the background (the first start of the app only); "
                   "what you give it is read as soon as it is ready.")
    elif card.loading.exception() is not None:
        card.recognizer()  # the loader's message, and the page's end


def model_key(rec: Recognizer) -> str:
    """What cached results depend on: the model file and its version on disk."""
    return f"{rec.path}@{_stamp(Path(rec.path)) if rec.path else 0}"


def decoder_select(card: ModelCard, key: str) -> str:
    options = [d for d in DECODERS if d != "lexicon" or card.has_lexicon]
    preferred = default_decoder(card)
    return st.selectbox("Decoder", options, key=key, format_func=lambda d: DECODER_LABELS.get(d, d),
                        index=options.index(preferred) if preferred in options else 0, help=DECODER_HELP)


def fmt_prob(p: float) -> str:
    return f"{p:.1%}" if p >= 0.001 else f"{p:.1e}"


# ---------------------------------------------------------------- metadata pieces
def sibling_file(rec: ModelCard | Recognizer, meta_key: str) -> Path | None:
    """A file the metadata names beside the model (history, report, predictions), if it is there."""
    name = rec.metadata.get(meta_key)
    if not isinstance(name, str) or rec.path is None:
        return None
    path = Path(rec.path).parent / name
    return path if path.is_file() else None


def _intervals(rec: ModelCard | Recognizer, decoder: str) -> dict[str, tuple[Interval, int]]:
    """Figure → (its bootstrap interval, decimals) for ``decoder``, as far as the metadata holds them."""
    found = rec.metadata.get("intervals")
    out = {}
    for name, digits in DIGITS.items():
        try:
            out[name] = (Interval(**{k: float(v) for k, v in found[decoder][name].items()}), digits)
        except (KeyError, TypeError, ValueError, AttributeError):  # none, or a hand-edited entry: not shown
            continue
    return out


def metrics_table(rec: ModelCard | Recognizer) -> pd.DataFrame | None:
    """Metrics per decoder (rows) from the metadata, or None when the model carries none; where the
    metadata holds their bootstrap intervals, a column ``FIGURE_interval`` ("83.2–89.1%") beside each."""
    found = rec.metadata.get("metrics")
    if not isinstance(found, dict):
        return None
    rows = {decoder: {**scores, **{f"{name}_interval": b.span(digits)
                                   for name, (b, digits) in _intervals(rec, decoder).items()}}
            for decoder, scores in found.items() if isinstance(scores, dict)}
    return pd.DataFrame.from_dict(rows, orient="index") if rows else None


def interval_notes(rec: ModelCard | Recognizer, decoder: str) -> dict[str, str]:
    """Figure → a sentence with its bootstrap interval (``hwr.intervals``), where the metadata holds one."""
    return {name: f"{b.level:.0%} interval {b.span(digits)}: how far the figure could move on another draw "
                  "of images like these (a bootstrap over the evaluation images)"
            for name, (b, digits) in _intervals(rec, decoder).items()}


def default_decoder(rec: ModelCard | Recognizer) -> str | None:
    """The decoder the model's metadata recommends (``decoder_default``), if it names a known one."""
    name = rec.metadata.get("decoder_default")
    return name if name in DECODERS else None


def headline(rec: ModelCard | Recognizer) -> tuple[str, dict] | None:
    """(decoder, scores): the recommended decoder's, else the one with the best word accuracy."""
    table = metrics_table(rec)
    if table is None or "word_accuracy" not in table:
        return None
    best = default_decoder(rec)
    if best not in table.index:
        best = table["word_accuracy"].astype(float).idxmax()
    return str(best), table.loc[best].to_dict()


def report_markdown(path: Path) -> str:
    """The training report without its image links (the page draws the curves) and server paths."""
    text = path.read_text(encoding="utf-8", errors="replace")
    return hide_paths(re.sub(r"!\[[^\]]*\]\([^)]*\)", "", text))


def read_csv(path: Path) -> pd.DataFrame | None:
    try:
        return pd.read_csv(path, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as err:
        log.warning("cannot read %s: %s", path, err)
        return None


def training_record(card: ModelCard | Recognizer) -> dict | None:
    """The metadata's training run (data, time, hardware, command) without server paths, if any."""
    training = card.metadata.get("training")
    return hide_paths_in(training) if isinstance(training, dict) and training else None


def spec_table(card: ModelCard | Recognizer) -> pd.DataFrame:
    """The architecture choices of the model's spec (from its metadata), one row each."""
    spec = card.metadata.get("spec")
    spec = spec if isinstance(spec, dict) else {}
    return pd.DataFrame({"setting": list(spec), "value": [str(v) for v in spec.values()]})


def layer_table(rec: Recognizer) -> pd.DataFrame:
    return pd.DataFrame(rec.layers)


def variants_note(rec: Recognizer) -> str:
    """How many times the model reads each image (``hwr.variants``), in words."""
    if not rec.variants:
        return "Each image is read once."
    return (f"Each image is read {1 + len(rec.variants)} times, as preprocessed and changed "
            f"({', '.join(rec.variants)}; chosen on the development set), and the texts are scored "
            f"under every reading.")


# ---------------------------------------------------------------- showing a prediction
def alternatives(rec: Recognizer, pred: Prediction) -> pd.DataFrame:
    """Beam-search readings of this image with P(text | image), merged with the decoder's own."""
    log_probs = pred.log_probs[None]
    beam = decode(log_probs, rec.alphabet, "beam", rec.decode_options())[0]
    merged = dict(beam.alternatives) | dict(pred.alternatives)
    rows = sorted(merged.items(), key=lambda tp: -tp[1])
    return pd.DataFrame({"reading": [t or "(nothing)" for t, _ in rows],
                         "P(text | image)": [p for _, p in rows],
                         "shown": ["✓" if t == pred.text else "" for t, _ in rows]})


def show_result(pred: Prediction) -> None:
    """The reading, its confidence and the image the model actually saw."""
    text, confidence, seen = st.columns([2, 2, 3], vertical_alignment="center")
    text.metric("Read", pred.text or "(nothing)", border=True)
    confidence.metric("Confidence, P(text | image)", fmt_prob(pred.confidence), border=True)
    height, width = pred.image.shape
    seen.image(to_uint8(pred.image), width="stretch",
               caption=f"What the model saw: {height} × {width} after preprocessing")


def show_details(rec: Recognizer, pred: Prediction) -> None:
    """The per-timestep CTC plot and the top alternatives."""
    # matplotlib is imported with the first plot, not with the page: 0.3 s less before the widgets
    # show on a fresh server (README "The app")
    from hwr.plots import ctc_figure

    plot, table = st.columns([3, 2])
    fig = ctc_figure(pred.image, pred.probs, rec.alphabet.chars,
                     title=f"Per-timestep probabilities: read “{pred.text}”"
                     + (f" (the first of {1 + len(rec.variants)} readings)" if rec.variants else ""))
    plot.pyplot(fig, width="stretch")
    table.markdown("**Top readings** (beam search)")
    table.dataframe(alternatives(rec, pred), hide_index=True, column_config={
        "P(text | image)": st.column_config.ProgressColumn(format="percent", min_value=0, max_value=1)})


def show_prediction(rec: Recognizer, pred: Prediction) -> None:
    show_result(pred)
    show_details(rec, pred)


# ---------------------------------------------------------------- Draw and Upload
#: the Draw page's canvas sizes, (width, height) in pixels. The canvas does not shrink with the
#: window, and what does not fit is cut off: "laptop" fits beside the menu in a 1280-pixel-wide
#: window, "phone" on a 390-pixel-wide phone (the menu folded away), "wide screen" from 1400 up
CANVAS_SIZES: dict[str, tuple[int, int]] = {"laptop": (760, 190), "wide screen": (880, 220),
                                            "phone": (340, 136)}


def default_canvas(user_agent: str | None) -> str:
    """The canvas size to start with: "phone" for a mobile browser ("Mobi" in its user agent, as MDN
    advises), else "laptop"."""
    return "phone" if "Mobi" in (user_agent or "") else "laptop"


def canvas_select(key: str) -> tuple[int, int]:
    """The canvas size the person chose, starting on the one that fits their browser."""
    agent = st.context.headers.get("User-Agent")  # None under AppTest: no browser to go by
    sizes = list(CANVAS_SIZES)
    name = st.selectbox("Canvas", sizes, index=sizes.index(default_canvas(agent)), key=key,
                        format_func=lambda k: f"{k} ({CANVAS_SIZES[k][0]} × {CANVAS_SIZES[k][1]})",
                        help="The canvas keeps its size when the window is narrower: pick one that "
                             "fits. A new size starts an empty canvas.")
    return CANVAS_SIZES[name]


def canvas_to_gray(rgba: np.ndarray) -> np.ndarray:
    """The canvas' RGBA (RGB order) composited onto white paper → uint8 gray."""
    img = np.asarray(rgba, np.float32)
    if img.ndim == 2:
        return np.clip(img, 0, 255).astype(np.uint8)
    rgb = img[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
    if img.shape[-1] == 4:
        alpha = img[..., 3] / 255.0
        rgb = rgb * alpha + 255.0 * (1.0 - alpha)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def drawing_input(model: ModelCard | Recognizer, rgba: np.ndarray) -> np.ndarray | None:
    """The drawing as model input, or None when nothing is written on it (no model needed to tell)."""
    x = model.preprocess(canvas_to_gray(rgba))
    return x if has_ink(x) else None


@dataclass
class UploadResult:
    name: str
    data: bytes
    prediction: Prediction | None = None
    error: str | None = None


@st.cache_data(show_spinner=False, max_entries=16)
def _read_blobs(blobs: tuple[bytes, ...], decoder: str, key: str, _rec: Recognizer) -> list:
    """Per blob: a Prediction, or the reason it cannot be read (one batch for the readable ones)."""
    inputs, errors = {}, {}
    for i, blob in enumerate(blobs):
        try:
            inputs[i] = _rec.prepare(blob)
        except ImageError as err:
            errors[i] = str(err)
    batch = np.stack(list(inputs.values())) if inputs else None
    preds = dict(zip(inputs, _rec.read_arrays(batch, decoder))) if batch is not None else {}
    return [preds.get(i, errors.get(i)) for i in range(len(blobs))]


def read_uploads(rec: Recognizer, files: list[tuple[str, bytes]], decoder: str) -> list[UploadResult]:
    """(name, bytes) of uploads and photos → one result each, in order; a bad one carries an error."""
    blobs = tuple(data for _, data in files)
    out = _read_blobs(blobs, decoder, model_key(rec), rec)
    return [UploadResult(name, b, o if isinstance(o, Prediction) else None,
                         o if isinstance(o, str) else None) for (name, _), b, o in zip(files, blobs, out)]


def uploads_csv(results: list[UploadResult]) -> bytes:
    frame = pd.DataFrame([{"file": r.name, "prediction": r.prediction.text if r.prediction else "",
                           "confidence": r.prediction.confidence if r.prediction else None,
                           "error": r.error or ""} for r in results])
    return frame.to_csv(index=False).encode()


def preview(data: bytes, max_side: int = 800) -> np.ndarray | None:
    """A small RGB copy of an uploaded original for display, turned by its EXIF orientation as the
    model's input is; None when it is too big to preview."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > PREVIEW_MAX_PIXELS:
                return None
            img.draft("RGB", (max_side, max_side))
            img = ImageOps.exif_transpose(img).convert("RGB")
            img.thumbnail((max_side, max_side))
            return np.asarray(img)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        return None


# ---------------------------------------------------------------- the evaluation set
def data_folders() -> dict[str, Path]:
    """The folders this server lets visitors browse, by name: the sample, ``$HWR_DATA_DIRS``, secrets.

    Secrets: a ``[data_dirs]`` table (name = "path") in ``.streamlit/secrets.toml``.
    """
    secrets = st.secrets.get("data_dirs") if st.secrets.load_if_toml_exists() else None
    try:
        return allowed_folders(os.environ, secrets if isinstance(secrets, Mapping) else None)
    except FolderError as err:
        log.error("%s", err)
        st.warning(f"The server's list of data folders (`{FOLDERS_ENV}`) is malformed, so only the "
                   "bundled sample is offered; the server's log says why.", icon=":material/warning:")
        return allowed_folders({}, None)


def evaluation_samples(root: Path, name: str) -> tuple[list[Sample], Path]:
    """The evaluation selection of a Kaggle-layout folder and its image folder.

    Raises DataError with a message that calls the folder ``name`` and shows no server path (the
    full message goes to the server's log).
    """
    try:
        _, selection = default_selections(root)
        samples, _ = load_split(root, selection)
        if not samples:
            raise DataError(f"no labelled evaluation images in {root} ({selection})")
    except DataError as err:
        log.warning("data folder %r (%s): %s", name, root, err)
        raise DataError(hide_paths(str(err), {root: name})) from err
    return samples, image_dir(root, parse_selection(selection)[0])


def committed_predictions(rec: ModelCard | Recognizer) -> pd.DataFrame | None:
    """The model's own per-image evaluation file, when it has one with the expected columns."""
    path = sibling_file(rec, "evaluation_predictions")
    frame = read_csv(path) if path else None
    if frame is None or set(COLUMNS) - set(frame.columns):
        return None
    return frame[COLUMNS].astype({"truth": str, "prediction": str})


@st.cache_data(show_spinner=False, max_entries=512)
def _evaluate_chunk(paths: tuple[str, ...], truths: tuple[str, ...], decoder: str, key: str,
                    _rec: Recognizer) -> pd.DataFrame:
    samples = [Sample(Path(p), t) for p, t in zip(paths, truths)]
    return evaluate(_rec, samples, decoder, progress=False)[0]


def predict_samples(rec: Recognizer, samples: list[Sample], decoder: str) -> pd.DataFrame:
    """``hwr.evaluate`` over labelled samples in cached chunks, with a progress bar on the page."""
    bar = st.progress(0.0, text=f"Reading {len(samples)} images…")
    tables = []
    for start in range(0, len(samples), CHUNK):
        chunk = samples[start:start + CHUNK]
        tables.append(_evaluate_chunk(tuple(str(s.image) for s in chunk), tuple(s.text for s in chunk),
                                      decoder, model_key(rec), rec))
        done = min(start + CHUNK, len(samples))
        bar.progress(done / len(samples), text=f"Reading images: {done:,} / {len(samples):,}")
    bar.empty()
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=COLUMNS)


SORTS = {
    "CER, worst first": ("cer", False), "CER, best first": ("cer", True),
    "confidence, lowest first": ("confidence", True), "confidence, highest first": ("confidence", False),
    "name length": ("length", True), "file name": ("filename", True),
}


def char_in_error(truth: str, pred: str, char: str) -> bool:
    """Whether ``char`` takes part in an edit between truth and prediction (dropped, wrong or added)."""
    return any(char in pair for pair in metrics.confusions([truth], [pred]))


def filter_errors(frame: pd.DataFrame, cer_range: tuple[float, float], length_range: tuple[int, int],
                  char: str | None, include_correct: bool, sort: str) -> pd.DataFrame:
    """The rows the Errors page shows: filtered by CER, truth length and character, then sorted."""
    frame = frame.assign(length=frame["truth"].str.len())
    keep = frame["cer"].between(*cer_range) & frame["length"].between(*length_range)
    if not include_correct:
        keep &= frame["prediction"] != frame["truth"]
    if char:
        keep &= np.array([char_in_error(t, p, char) for t, p in zip(frame["truth"], frame["prediction"])],
                         dtype=bool)
    column, ascending = SORTS[sort]
    return frame[keep].sort_values(column, ascending=ascending, kind="stable")


#: Size of the scans in the Errors table: Kaggle crops (273–388 × 14–72) fit whole at one height.
THUMB_SIZE = (360, 44)


def data_uri(path: Path, size: tuple[int, int] = THUMB_SIZE) -> str | None:
    """A scan fitted (aspect kept) into a white ``size`` box, as a PNG data: URI for a table cell."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img = img.convert("L")
            img.thumbnail(size)
    except (UnidentifiedImageError, OSError):
        return None
    box = Image.new("L", size, 255)
    box.paste(img, (0, (size[1] - img.height) // 2))
    buf = io.BytesIO()
    box.save(buf, format="PNG", optimize=True)
    return f"data:image/png;base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


@st.cache_data(show_spinner=False, max_entries=64)
def _read_file(path: str, decoder: str, key: str, _rec: Recognizer) -> Prediction:
    return _rec.read([path], decoder)[0]


def read_file(rec: Recognizer, path: Path, decoder: str) -> Prediction | None:
    """One evaluation image's full prediction (for the CTC plot), or None with a message shown."""
    try:
        return _read_file(str(path), decoder, model_key(rec), rec)
    except ImageError as err:
        st.error(f"Cannot read {path.name}: {hide_paths(str(err))}")
        return None
