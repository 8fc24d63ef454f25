"""The page at ``/``, in a real browser: Debian's headless Chromium driven by Playwright.

The browser uploads two JPEGs and a text file; the test reads the two classes and the error
line from the page, and saves a screenshot that it checks is not blank. ``.ci/run`` installs
Chromium where it is missing; without /usr/bin/chromium the test is skipped.
"""

import os
from pathlib import Path

import numpy as np
import pytest

from pipelines import make
from pipelines.datasets import decode_bytes, load_image_folder
from pipelines.model_files import save_model
from pipelines.serve.app import create_app
from pipelines.serve.models import load_models

from ._serve import CLASSES, ThreadServer, encode, synthetic_image, write_image_folder

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM),
    reason=f"no Chromium at {CHROMIUM} (Debian package chromium; .ci/run installs it)",
)


def test_the_page_classifies_dropped_images(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    data = load_image_folder(write_image_folder(tmp_path / "train", n_per_class=12))
    # 8 x 8 cells: glyphs big enough to see
    fitted = make("hog-softmax", features__pixels_per_cell=(8, 8)).fit(data.images, data.labels)
    save_model(fitted, tmp_path / "shapes.skops", class_names=CLASSES, input_shape=(32, 32, 3))
    rng = np.random.default_rng(4)
    uploads = []
    for i, label in enumerate((0, 1)):
        uploads.append(tmp_path / f"photo{i}.jpg")
        uploads[-1].write_bytes(encode(synthetic_image(label, rng)))
    uploads.append(tmp_path / "notes.txt")
    uploads[-1].write_text("this is not an image")
    expected = [
        CLASSES[c]
        for c in fitted.predict(
            np.stack([decode_bytes(p.read_bytes(), size=(32, 32)) for p in uploads[:2]])
        )
    ]
    assert sorted(expected) == sorted(CLASSES)  # one of each: a mix-up would show

    screenshot = tmp_path / "page.png"
    app = create_app(load_models([str(tmp_path / "shapes.skops")]))
    with ThreadServer(app) as server, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 620})
            page.goto(server.url + "/")
            page.wait_for_selector("#model option", state="attached")
            assert "classifier" in page.inner_text("#model-info")
            page.set_input_files("#files", [str(p) for p in uploads])
            page.wait_for_selector(".result >> nth=2")
            cards = page.query_selector_all(".result")
            names = [card.get_attribute("data-name") for card in cards]
            classes = [card.query_selector(".cls") for card in cards]
            assert names == [p.name for p in uploads]
            assert [c.inner_text() for c in classes[:2]] == expected
            assert classes[2] is None
            assert cards[2].query_selector(".error").inner_text() == "not a decodable image"
            assert len(cards[0].query_selector_all(".bar")) == 2  # a bar per class
            page.wait_for_function(
                "[...document.querySelectorAll('img.hog')].every(i => i.complete && i.naturalWidth)"
            )
            assert "2 of 3 images answered" in page.inner_text("#status")
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()

    shot = decode_bytes(Path(screenshot).read_bytes())
    assert shot.shape[0] >= 400 and shot.shape[1] >= 1000
    # not blank: many colours, and the ink covers a fair part of the page
    colours = np.unique(shot.reshape(-1, 3), axis=0)
    assert len(colours) > 200 and shot.std() > 20
