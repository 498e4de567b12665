"""The real app in a real browser: ``streamlit run`` driven by Playwright with Debian's Chromium.

What AppTest cannot do: draw on the canvas with the mouse, upload through the file input, and see
the pages as a person does (screenshots go to /tmp/app_*.png). Skipped when /usr/bin/chromium is
missing; no browser is ever downloaded.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from hwr import config
from hwr.bench_app import (CHROMIUM, RESULT_S, SAMPLE, AppServer, cold_start, launch_chromium, open_page,
                           read_value)

pytestmark = [
    pytest.mark.browser, pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.is_file(),
                       reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

# Strokes of the letters A, N, N, A in a unit box (x right, y down), drawn left to right.
LETTERS = {
    "A": [[(0, 1), (0.5, 0), (1, 1)], [(0.22, 0.6), (0.78, 0.6)]],
    "N": [[(0, 1), (0, 0), (1, 1), (1, 0)]],
}
#: A crop the committed model reads right with high confidence, and the name written on it: the
#: camera test holds a photo of it up to the fake camera (any decent model reads this one).
PHOTO_CROP = config.BUNDLED_DATA / "validation_v2" / "validation" / "VALIDATION_1475.jpg"
PHOTO_NAME = "THOMAS"


@pytest.fixture(scope="module")
def model_path(tmp_path_factory, tiny_model_path) -> Path:
    from test_app import make_dev_model

    if config.DEFAULT_MODEL.is_file():
        return config.DEFAULT_MODEL
    return make_dev_model(tmp_path_factory.mktemp("devmodel"), tiny_model_path)


@pytest.fixture(scope="module")
def server(model_path):
    with AppServer(model_path) as srv:
        srv.wait_healthy()
        yield srv


@pytest.fixture(scope="module")
def playwright():
    with sync_api.sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright):
    b = launch_chromium(playwright)
    yield b
    b.close()


@pytest.fixture
def page(browser):
    # tall, because Streamlit scrolls inside its main block and a screenshot only sees the viewport
    context = browser.new_context(viewport={"width": 1400, "height": 2400})
    yield context.new_page()
    context.close()


def draw_word(page, word: str = "ANNA") -> None:
    """Write ``word`` with the mouse, stroke by stroke, on the drawing canvas."""
    canvas = page.locator("canvas").last  # fabric's top canvas takes the pointer events
    canvas.wait_for(timeout=RESULT_S * 1000)
    box = canvas.bounding_box()
    # letters 0.8 × size wide, 0.3 × size apart, inside 30 pixels of paper either side
    size = min(box["height"] * 0.55, (box["width"] - 60) / (1.1 * len(word)))
    gap = 0.3 * size
    x0, y0 = box["x"] + 30, box["y"] + (box["height"] - size) / 2
    for i, letter in enumerate(word):
        left = x0 + i * (size * 0.8 + gap)
        for stroke in LETTERS[letter]:
            points = [(left + u * size * 0.8, y0 + v * size) for u, v in stroke]
            page.mouse.move(*points[0])
            page.mouse.down()
            for point in points[1:]:
                page.mouse.move(*point, steps=8)
            page.mouse.up()
            page.wait_for_timeout(150)


def settle(page) -> None:
    """Wait until the script has finished its last run (each pen lift starts one)."""
    page.wait_for_timeout(500)
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(
        timeout=RESULT_S * 1000)
    page.wait_for_timeout(1000)  # let images and tables paint


def no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0


def test_draw_with_the_mouse_shows_a_reading_and_the_plot(page, server):
    open_page(page, server, "Draw", "Stroke width")
    page.get_by_text("The canvas is empty").first.wait_for(timeout=RESULT_S * 1000)
    draw_word(page)
    settle(page)
    page.get_by_text("Top readings").first.wait_for(timeout=RESULT_S * 1000)
    text = read_value(page)
    assert text  # "(nothing)" when the model reads no character
    images = page.locator('[data-testid="stMain"] img')
    assert images.count() >= 2  # the model input and the CTC plot (st.pyplot)
    assert page.locator('[data-testid="stDataFrame"]').count() >= 1  # the top readings
    no_exception(page)
    page.screenshot(path="/tmp/app_draw.png", full_page=True)
    print(f"the drawing was read as {text!r}")


#: what a phone's browser sends (an iPhone's Safari)
PHONE_AGENT = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
               "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1")


@pytest.mark.parametrize("viewport, agent", [((1280, 800), None), ((390, 844), PHONE_AGENT)],
                         ids=["laptop", "phone"])
def test_the_canvas_fits_the_window_and_reads_what_is_written_on_it(browser, server, viewport, agent):
    """The canvas keeps its pixel size: 880 pixels were cut off at its right in a 1280-pixel window."""
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]},
                                  user_agent=agent, is_mobile=agent is not None, has_touch=agent is not None)
    try:
        page = context.new_page()
        open_page(page, server, "Draw", "Stroke width")
        page.get_by_text("The canvas is empty").first.wait_for(timeout=RESULT_S * 1000)
        canvas = page.locator("canvas").last.bounding_box()
        left, right = page.locator('[data-testid="stMainBlockContainer"]').evaluate(
            "e => { const r = e.getBoundingClientRect(), s = getComputedStyle(e);"
            " return [r.left + parseFloat(s.paddingLeft), r.right - parseFloat(s.paddingRight)]; }")
        assert left <= canvas["x"] and canvas["x"] + canvas["width"] <= right  # the page's text column
        draw_word(page)
        settle(page)
        text = read_value(page)
        no_exception(page)
        page.screenshot(path=f"/tmp/app_draw_{viewport[0]}.png")
    finally:
        context.close()
    if config.DEFAULT_MODEL.is_file():  # an untrained model reads nothing in particular
        assert text == "ANNA"


def test_upload_a_kaggle_image_shows_the_recognizer_reading(page, server, model_path):
    open_page(page, server, "Upload", "Choose one or more")
    page.locator('input[type="file"]').set_input_files(str(SAMPLE))
    page.get_by_text("Read 1 of 1 image").first.wait_for(timeout=RESULT_S * 1000)
    settle(page)
    text = read_value(page)
    page.get_by_text("Top readings").first.wait_for(timeout=RESULT_S * 1000)
    no_exception(page)
    page.screenshot(path="/tmp/app_upload.png", full_page=True)
    if config.DEFAULT_MODEL.is_file():  # an untrained model's near-ties may flip between runs
        from hwr.decode import DECODERS
        from hwr.recognizer import load_recognizer

        rec = load_recognizer(model_path)
        decoder = rec.metadata.get("decoder_default")  # what the page's select box starts on
        expected = rec.read([SAMPLE], decoder if decoder in DECODERS else "greedy")[0].text
        assert text == (expected or "(nothing)")


@pytest.mark.parametrize("path,ready,shot", [
    ("", "How well it reads", "home"),
    ("Errors", "Top readings", "errors"),
    ("Model", "Architecture", "model"),
])
def test_pages_render_in_the_browser(page, server, path, ready, shot):
    open_page(page, server, path, ready)
    settle(page)
    no_exception(page)
    page.screenshot(path=f"/tmp/app_{shot}.png", full_page=True)


def test_a_fresh_servers_first_request_for_a_page_gets_the_apps_menu(browser, model_path):
    """Streamlit runs an app with a pages/ folder as a legacy one until st.navigation has run once.

    ``ui._use_app_navigation`` hands such a run over to app.py: the menu is app.py's afterwards.
    The page shows its table before the model has loaded, and its detail view once it has.
    """
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    with AppServer(model_path) as srv:
        srv.wait_healthy()
        page = context.new_page()
        open_page(page, srv, "Errors", "rows match")  # the table, from the model's metadata and files
        page.get_by_text("Top readings").first.wait_for(timeout=RESULT_S * 1000)  # then the model's reading
        settle(page)  # Streamlit's automatic menu may show for a moment, until the page declares its own
        nav = page.locator('[data-testid="stSidebarNav"]')
        labels = [t.split()[-1] for t in nav.locator("a").all_inner_texts()]  # after the icon's ligature
        assert page.get_by_text("Page not found").count() == 0
        no_exception(page)
        context.close()
    assert labels == ["Home", "Draw", "Upload", "Errors", "Model"], labels


def test_cold_start_shows_the_upload_widget_before_the_first_reading(browser, model_path, record_property):
    """A fresh server: the upload widget, then the first reading (``python -m hwr.bench_app`` times it)."""
    run = cold_start(browser, model_path)
    record_property("cold_start_s", run["first_reading_s"])
    print(f"cold start: upload widget {run['upload_widget_s']:.1f} s, first reading {run['first_reading_s']:.1f} s")
    assert run["healthy_s"] <= run["upload_widget_s"] <= run["first_reading_s"]
    assert run["reading"] and run["reading"] != "(nothing)" or not config.DEFAULT_MODEL.is_file()


def photo_video(path: Path, crop: Path = PHOTO_CROP, size=(640, 480), frames: int = 10) -> Path:
    """A .y4m clip for Chromium's fake camera: the crop pasted large on a slightly gray sheet of paper."""
    width, height = size
    page = np.full((height, width), 232, np.uint8)  # paper under room light, not pure white
    scan = cv2.imread(str(crop), cv2.IMREAD_GRAYSCALE)
    scale = (width - 40) / scan.shape[1]
    scan = cv2.resize(scan, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    top = (height - scan.shape[0]) // 2
    page[top:top + scan.shape[0], 20:20 + scan.shape[1]] = np.minimum(scan, 232)
    noise = np.random.default_rng(0)
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        chroma = np.full((height // 2) * (width // 2), 128, np.uint8).tobytes()
        for _ in range(frames):  # a little sensor noise in every frame
            luma = np.clip(page.astype(np.int16) + noise.integers(-3, 4, page.shape), 0, 255).astype(np.uint8)
            f.write(b"FRAME\n" + luma.tobytes() + chroma + chroma)
    return path


def test_a_camera_photo_of_a_name_is_read(playwright, server, tmp_path):
    """Chromium's fake camera films a photo of a real crop; the Upload page's camera reads the name."""
    video = photo_video(tmp_path / "name.y4m")
    browser = launch_chromium(playwright, ["--use-fake-device-for-media-stream",
                                           f"--use-file-for-fake-video-capture={video}"])
    try:
        context = browser.new_context(viewport={"width": 1400, "height": 2400})
        context.grant_permissions(["camera"], origin=server.url)
        page = context.new_page()
        open_page(page, server, "Upload", "Choose one or more")
        page.locator('[data-testid="stCheckbox"]').filter(has_text="Take a photo").locator("label").first.click()
        shoot = page.get_by_role("button", name="Take Photo")
        shoot.wait_for(timeout=RESULT_S * 1000)
        page.wait_for_timeout(1500)  # let the video start playing
        shoot.click()
        page.get_by_text("Read 1 of 1 image").first.wait_for(timeout=RESULT_S * 1000)
        settle(page)
        text = read_value(page)
        no_exception(page)
        page.screenshot(path="/tmp/app_camera.png", full_page=True)
    finally:
        browser.close()
    print(f"the photo was read as {text!r}")
    if config.DEFAULT_MODEL.is_file():  # an untrained model reads nothing in particular
        assert text == PHOTO_NAME
