"""Every page through Streamlit's AppTest, with a model and the bundled sample; plus the ui helpers.

The model is the trained one at models/crnn.keras when it exists, else an untrained CRNN saved with
full metadata (metrics, history, per-image predictions) so every part of every page is exercised.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from hwr import config
from hwr.data import default_selections, load_split
from hwr.metrics import cer, per_character_errors, score

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["pages/1_Draw.py", "pages/2_Upload.py", "pages/3_Errors.py", "pages/4_Model.py"]
TIMEOUT = 120  # the first run imports TensorFlow and loads the model
REAL_MODEL = config.DEFAULT_MODEL.is_file()

pytestmark = pytest.mark.slow


def fake_predictions(root: Path) -> pd.DataFrame:
    """Per-image predictions for the bundled evaluation rows: a third right, the rest one edit off."""
    samples, _ = load_split(root, default_selections(root)[1])
    rows = []
    for i, s in enumerate(samples):
        pred = [s.text, s.text[:-1], ("Y" if s.text[0] == "X" else "X") + s.text[1:]][i % 3]
        rows.append({"filename": s.image.name, "truth": s.text, "prediction": pred,
                     "confidence": 0.9 - 0.3 * (i % 3), "cer": cer(s.text, pred)})
    return pd.DataFrame(rows)


def make_dev_model(folder: Path, bare_model: Path) -> Path:
    """An untrained model beside the metadata a trained one carries (metrics, history, predictions)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "crnn.keras"
    shutil.copy(bare_model, path)
    meta = json.loads(bare_model.with_suffix(".json").read_text())
    table = fake_predictions(config.BUNDLED_DATA)
    table.to_csv(folder / "crnn_predictions.csv", index=False)
    pd.DataFrame({"epoch": [1, 2, 3, 1, 2], "loss": [30, 20, 12, 9, 7], "val_loss": [28, 19, 13, 10, 9],
                  "val_cer": [.9, .6, .4, .3, .25], "val_word_accuracy": [0, .1, .3, .4, .45],
                  "stage": ["synthetic"] * 3 + ["real"] * 2}).to_csv(folder / "crnn_history.csv", index=False)
    (folder / "crnn_report.md").write_text("# Training report\n\nA throwaway model for the app tests.\n")
    scores = score(table["truth"], table["prediction"]).to_dict()
    meta.update({"metrics": {"greedy": scores, "beam": {**scores, "word_accuracy": 0.2}},
                 "decoder_default": "beam",
                 "training": {"images": 1000, "seconds": 60, "command": "python train.py"},
                 "history_csv": "crnn_history.csv", "report": "crnn_report.md",
                 "evaluation_predictions": "crnn_predictions.csv",
                 "per_character": per_character_errors(table["truth"], table["prediction"])})
    path.with_suffix(".json").write_text(json.dumps(meta))
    return path


@pytest.fixture(scope="module")
def model_path(tmp_path_factory, tiny_model_path) -> Path:
    if REAL_MODEL:
        return config.DEFAULT_MODEL
    return make_dev_model(tmp_path_factory.mktemp("devmodel"), tiny_model_path)


@pytest.fixture(scope="module")
def recognizer(model_path):
    from hwr.recognizer import load_recognizer

    return load_recognizer(model_path)


@pytest.fixture
def app(model_path, monkeypatch):
    """Run a page with the test model: ``app("pages/1_Draw.py", {state})``."""
    monkeypatch.setenv("HWR_MODEL", str(model_path))

    def run(page: str | None = None, state: dict | None = None) -> AppTest:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
        for key, value in (state or {}).items():
            at.session_state[key] = value
        if page:
            at.switch_page(page)
        return at.run()

    return run


def default_decoder(rec) -> str:
    """What the decoder select boxes start on."""
    from hwr import ui

    return ui.default_decoder(rec) or "greedy"


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label.startswith(label))


def drawing(text: str = "ANNA", size=(220, 880)) -> np.ndarray:
    """What the canvas returns: RGBA, black ink, transparent where nothing was drawn."""
    rgba = np.zeros((*size, 4), np.uint8)
    cv2.putText(rgba, text, (40, 160), cv2.FONT_HERSHEY_SIMPLEX, 4.0, (0, 0, 0, 255), 12, cv2.LINE_AA)
    return rgba


# ---------------------------------------------------------------- Home
def test_home_shows_the_metadata_metrics(app, recognizer):
    at = app()
    assert not at.exception
    scores = recognizer.metadata["metrics"]
    name = recognizer.metadata.get("decoder_default")
    best = scores[name] if name in scores else max(scores.values(), key=lambda m: m["word_accuracy"])
    assert metric(at, "Names read exactly") == f"{best['word_accuracy']:.1%}"
    assert metric(at, "Character error rate") == f"{best['cer']:.1%}"
    assert metric(at, "Evaluation images") == f"{best['images']:,}"
    assert len(at.get("page_link")) == 4


def test_home_without_metrics_says_so(app, monkeypatch, tiny_model_path):
    monkeypatch.setenv("HWR_MODEL", str(tiny_model_path))
    at = app()
    assert not at.exception
    assert "no evaluation metrics" in texts(at.info)


# ---------------------------------------------------------------- Draw
def test_draw_reads_an_injected_drawing(app, recognizer):
    from hwr import ui

    at = app(PAGES[0], {"draw_image_override": drawing()})
    assert not at.exception
    expected = ui.read_drawing(recognizer, drawing(), default_decoder(recognizer))
    assert metric(at, "Read") == (expected.text or "(nothing)")
    assert len(at.image) >= 2  # the model input and the CTC plot
    assert "Top readings" in texts(at.markdown)
    assert expected.text in at.dataframe[0].value["reading"].tolist() or not expected.text


@pytest.mark.parametrize("decoder", ["beam", "lexicon"])
def test_draw_every_decoder_reads(app, recognizer, decoder):
    from hwr import ui

    at = app(PAGES[0], {"draw_image_override": drawing("LEA")})
    at.selectbox(key="draw_decoder").set_value(decoder).run()
    assert not at.exception
    expected = ui.read_drawing(recognizer, drawing("LEA"), decoder)
    assert metric(at, "Read") == (expected.text or "(nothing)")


@pytest.mark.parametrize("state", [{}, {"draw_image_override": np.zeros((220, 880, 4), np.uint8)}],
                         ids=["no-image", "blank-canvas"])
def test_draw_empty_canvas_is_a_friendly_message(app, state):
    at = app(PAGES[0], state)
    assert not at.exception
    assert "canvas is empty" in texts(at.info)
    assert not at.metric


def test_draw_clear_gives_a_new_canvas(app):
    at = app(PAGES[0], {"draw_image_override": drawing()})
    at.button(key="draw_clear").click().run()
    assert not at.exception
    assert at.session_state["draw_canvas_version"] == 1
    assert "canvas is empty" in texts(at.info)


# ---------------------------------------------------------------- Upload
def sample(name: str = "VALIDATION_1001.jpg") -> Path:
    return config.BUNDLED_DATA / "validation_v2" / "validation" / name


def test_upload_reads_a_real_kaggle_jpeg(app, recognizer):
    at = app(PAGES[1])
    assert "Choose one or more" in texts(at.info)
    at.file_uploader[0].upload("VALIDATION_1001.jpg", sample().read_bytes(), "image/jpeg").run()
    assert not at.exception
    expected = recognizer.read([sample()], default_decoder(recognizer))[0]
    assert metric(at, "Read") == (expected.text or "(nothing)")
    assert len(at.get("download_button")) == 1
    assert len(at.image) >= 3  # the original, the model input, the CTC plot


def test_upload_text_file_is_an_error_not_an_exception(app):
    at = app(PAGES[1])
    at.file_uploader[0].upload("notes.txt", b"not an image at all", "text/plain").run()
    assert not at.exception
    assert "notes.txt" in texts(at.error) and "not an image" in texts(at.error)
    assert not at.metric


def test_upload_batch_reads_good_files_and_reports_bad_ones(app):
    at = app(PAGES[1])
    up = at.file_uploader[0]
    up.upload("a.jpg", sample("VALIDATION_1002.jpg").read_bytes(), "image/jpeg")
    up.upload("broken.png", b"\x89PNG\r\n\x1a\n broken", "image/png")
    up.upload("b.jpg", sample("VALIDATION_1003.jpg").read_bytes(), "image/jpeg").run()
    assert not at.exception
    assert "broken.png" in texts(at.error)
    assert len([m for m in at.metric if m.label == "Read"]) == 2
    assert "Read 2 of 3 images" in texts(at.subheader)


def test_upload_over_the_pixel_limit_is_refused_with_a_message(app, monkeypatch):
    import streamlit as st

    st.cache_data.clear()
    monkeypatch.setattr(config, "MAX_IMAGE_PIXELS", 1000)
    at = app(PAGES[1])
    at.file_uploader[0].upload("big.jpg", sample("VALIDATION_1004.jpg").read_bytes(), "image/jpeg").run()
    st.cache_data.clear()
    assert not at.exception
    assert "the limit is 1,000 pixels" in texts(at.error)


# ---------------------------------------------------------------- Errors
def test_errors_lists_and_filters_the_bundled_mistakes(app, recognizer):
    from hwr import ui

    at = app(PAGES[2])
    assert not at.exception
    table = ui.committed_predictions(recognizer)
    assert table is not None
    wrong = table[table["truth"] != table["prediction"]]
    assert f"**{len(wrong):,}** of **{len(table):,}**" in texts(at.markdown)
    assert f"{len(wrong):,} rows match" in texts(at.caption)
    assert len(at.dataframe[0].value) == min(20, len(wrong))
    assert len(at.image) >= 3  # the chosen scan, its model input, its CTC plot

    at.selectbox(key="errors_char").set_value("A").run()
    expected = ui.filter_errors(table, (0, 10), (1, 99), "A", False, "CER, worst first")
    assert f"{len(expected):,} rows match" in texts(at.caption)
    assert at.dataframe[0].value["filename"].tolist() == expected["filename"].head(20).tolist()

    at.checkbox(key="errors_correct").check().run()
    at.selectbox(key="errors_char").set_value("").run()
    assert f"{len(table):,} rows match" in texts(at.caption)
    assert not at.exception


def test_errors_computes_predictions_for_a_users_folder(app, make_layout, bundled_data):
    rows = pd.read_csv(bundled_data / "written_name_validation_v2.csv").iloc[40:48]
    root = make_layout(list(zip(rows["FILENAME"], rows["IDENTITY"])))
    at = app(PAGES[2])
    at.radio(key="errors_source").set_value("folder").run()
    assert "Type the path" in texts(at.info)
    at.text_input(key="errors_folder").input(str(root)).run()
    at.checkbox(key="errors_correct").check().run()
    assert not at.exception
    assert "8 rows match" in texts(at.caption)
    assert sorted(at.dataframe[0].value["filename"]) == sorted(rows["FILENAME"])


def test_errors_missing_folder_is_a_clear_error(app, tmp_path):
    at = app(PAGES[2])
    at.radio(key="errors_source").set_value("folder").run()
    at.text_input(key="errors_folder").input(str(tmp_path / "nowhere")).run()
    assert not at.exception
    assert "data folder not found" in texts(at.error)


# ---------------------------------------------------------------- Model
def test_model_page_renders_everything(app, recognizer):
    at = app(PAGES[3])
    assert not at.exception
    assert not at.info  # every piece of metadata is there
    assert set(recognizer.metadata["metrics"]) <= set(at.dataframe[0].value.index)
    assert len(at.image) == 2  # training curves and errors per character
    layers = next(d.value for d in at.dataframe if "parameters" in d.value)
    assert layers["parameters"].sum() == sum(recognizer.parameter_counts)  # no Keras model under ONNX
    assert f"{sum(recognizer.parameter_counts):,} parameters:" in texts(at.caption)


def test_pages_cope_with_a_model_without_metadata_extras(app, monkeypatch, tiny_model_path):
    monkeypatch.setenv("HWR_MODEL", str(tiny_model_path))
    at = app(PAGES[3])
    assert not at.exception
    info = texts(at.info)
    assert "no evaluation metrics" in info and "No training history" in info and "No per-character" in info


# ---------------------------------------------------------------- no model at all
@pytest.mark.parametrize("page", [None, *PAGES])
def test_missing_model_is_a_clear_error_on_every_page(app, monkeypatch, tmp_path, page):
    monkeypatch.setenv("HWR_MODEL", str(tmp_path / "absent.keras"))
    at = app(page)
    assert not at.exception
    assert "No model could be loaded" in texts(at.error)
    assert "absent.keras" in texts(at.error)


def test_model_metadata_without_its_alphabet_is_a_clear_error(app, monkeypatch, tmp_path, tiny_model_path):
    broken = tmp_path / "broken.keras"
    shutil.copy(tiny_model_path, broken)
    meta = json.loads(tiny_model_path.with_suffix(".json").read_text())
    del meta["alphabet"]
    broken.with_suffix(".json").write_text(json.dumps(meta))
    monkeypatch.setenv("HWR_MODEL", str(broken))
    at = app()
    assert not at.exception
    assert "No model could be loaded" in texts(at.error) and "alphabet" in texts(at.error)


# ---------------------------------------------------------------- ui helpers
def test_canvas_to_gray_composites_onto_white():
    from hwr.ui import canvas_to_gray

    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (0, 0, 0, 255)      # black ink
    rgba[0, 1] = (255, 0, 0, 255)    # red ink, RGB order
    assert canvas_to_gray(rgba).tolist() == [[0, 76], [255, 255]]


def test_filter_errors_filters_and_sorts():
    from hwr.ui import filter_errors

    frame = pd.DataFrame({"filename": ["a", "b", "c", "d"], "truth": ["ANNA", "BOB", "ZOE", "LEA"],
                          "prediction": ["ANNA", "B0B", "ZO", "LFA"], "confidence": [.9, .2, .5, .4],
                          "cer": [0.0, 1 / 3, 1 / 3, 1 / 3]})
    by_confidence = filter_errors(frame, (0, 1), (1, 9), None, False, "confidence, lowest first")
    assert by_confidence["filename"].tolist() == ["b", "d", "c"]
    assert filter_errors(frame, (0, 1), (1, 9), "E", False, "file name")["filename"].tolist() == ["c", "d"]
    assert filter_errors(frame, (0, 1), (4, 9), None, True, "file name")["filename"].tolist() == ["a"]
