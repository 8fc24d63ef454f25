"""Model files: skops round trip, refusal of foreign types, pickle on request, train/predict."""

import csv
import io
import re

import cv2
import numpy as np
import pytest

from pipelines import make
from pipelines.datasets import load_dataset
from pipelines.model_files import (
    UntrustedModelError,
    load_model,
    predict_files,
    save_model,
    untrusted_types,
)
from scripts import predict as predict_script
from scripts import train as train_script


class Foreign:
    """A type no model file of the library holds."""

    def __init__(self, value=1):
        self.value = value


@pytest.fixture(scope="module")
def digits_model():
    digits = load_dataset("digits")
    model = make("pixels-softmax").fit(digits.images[:600], digits.labels[:600])
    return model, digits


def test_round_trip_keeps_model_and_class_names(digits_model, tmp_path):
    model, digits = digits_model
    path = save_model(
        model, tmp_path / "m.skops", class_names=digits.class_names, input_shape=(8, 8)
    )
    assert untrusted_types(path) == []
    content = load_model(path)
    assert content["class_names"] == [str(i) for i in range(10)]
    assert content["input_shape"] == [8, 8]
    assert content["library"]["numpy"] == np.__version__
    images = digits.images[600:900]
    np.testing.assert_array_equal(content["model"].predict(images), model.predict(images))
    np.testing.assert_allclose(
        content["model"].predict_proba(images), model.predict_proba(images), rtol=0, atol=0
    )


def test_foreign_types_are_refused_by_name(tmp_path):
    model = make("pixels-svm").steps[1][1]
    model.extra_ = Foreign()
    name = f"{__name__}.Foreign"
    message = (
        f"Refusing to save {str(tmp_path / 'f')!r}: it holds types that are not trusted: "
        f"{name}. a file holding them could not be loaded; pass them as trusted if you trust "
        "them."
    )
    with pytest.raises(UntrustedModelError, match=re.escape(message)):
        save_model(model, tmp_path / "f")
    assert not (tmp_path / "f").exists()
    path = save_model(model, tmp_path / "f", trusted=[name])
    assert untrusted_types(path) == [name]
    message = (
        f"Refusing to load {str(path)!r}: it holds types that are not trusted: {name}. "
        "Load only files you trust; to accept these types, pass them as trusted."
    )
    with pytest.raises(UntrustedModelError, match=re.escape(message)):
        load_model(path)
    assert load_model(path, trusted=[name])["model"].extra_.value == 1


def test_pickle_only_on_request(digits_model, tmp_path):
    model, digits = digits_model
    path = save_model(model, tmp_path / "m.joblib", format="pickle")
    message = f"{str(path)!r} is not a skops model file; if it is a pickle you made yourself"
    with pytest.raises(ValueError, match=re.escape(message)):
        load_model(path)
    assert load_model(path, allow_pickle=True)["class_names"] is None
    with pytest.raises(ValueError, match=re.escape("Unknown model file format 'npz'")):
        save_model(model, tmp_path / "m.npz", format="npz")
    with pytest.raises(ValueError, match=re.escape("does not exist")):
        load_model(tmp_path / "missing.skops")


def _write_png(path, image):
    ok, data = cv2.imencode(".png", image)
    assert ok
    path.write_bytes(data.tobytes())


def test_train_then_predict_gives_the_pipelines_predictions(tmp_path, capsys):
    model_path = tmp_path / "digits.skops"
    argv = ["--pipeline", "pixels-svm", "--dataset", "digits", "--out", str(model_path)]
    assert train_script.main(argv) == 0
    captured = capsys.readouterr()
    assert "fitted pixels-svm on 1797 images (10 classes)" in captured.out
    # the progress bar names the command's steps as they happen
    bar = captured.err.replace("\r", "\n")
    for step in ("train pixels-svm", ", load]", ", fit on 1797 images]", ", save]"):
        assert step in bar, step

    digits = load_dataset("digits")
    images = np.rint(digits.images[:5] * 255).astype(np.uint8)
    paths = []
    for i, image in enumerate(images):
        paths.append(tmp_path / f"{i}.png")
        _write_png(paths[-1], image)
    big = cv2.resize(images[0], (16, 16), interpolation=cv2.INTER_LINEAR)
    _write_png(tmp_path / "big.png", big)  # resized back to 8 x 8 by predict
    (tmp_path / "text.png").write_text("not an image")
    files = [str(p) for p in paths] + [str(tmp_path / "text.png"), str(tmp_path / "big.png")]

    assert predict_script.main([str(model_path), *files]) == 1  # the text file failed
    captured = capsys.readouterr()
    assert "predict.py: 1 of 7 files could not be predicted" in captured.err
    rows = list(csv.DictReader(io.StringIO(captured.out)))
    assert [r["path"] for r in rows] == files

    fitted = load_model(model_path)["model"]  # the fitted pipeline (round trip: see above)
    expected = fitted.predict(images)
    assert [r["class"] for r in rows[:5]] == [str(c) for c in expected]
    assert [r["probability"] for r in rows[:5]] == [""] * 5  # a linear SVM has none
    assert rows[5] == {
        "path": files[5],
        "class": "",
        "probability": "",
        "error": "not a decodable image",
    }
    resized = cv2.resize(big, (8, 8), interpolation=cv2.INTER_AREA)
    assert rows[6]["class"] == str(fitted.predict(resized[None])[0]) and not rows[6]["error"]


def test_predict_probabilities_and_refusals(digits_model, tmp_path, capsys):
    model, digits = digits_model
    path = save_model(
        model, tmp_path / "softmax.skops", class_names=digits.class_names, input_shape=(8, 8)
    )
    images = np.rint(digits.images[600:603] * 255).astype(np.uint8)
    files = []
    for i, image in enumerate(images):
        files.append(str(tmp_path / f"x{i}.png"))
        _write_png(tmp_path / f"x{i}.png", image)
    rows = predict_files(load_model(path), files)
    assert [r["class"] for r in rows] == [str(c) for c in model.predict(images)]
    np.testing.assert_allclose(
        [r["probability"] for r in rows], model.predict_proba(images).max(axis=1), rtol=1e-12
    )
    assert all(r["error"] is None for r in rows)

    foreign = save_model(Foreign(), tmp_path / "foreign.skops", trusted=[f"{__name__}.Foreign"])
    assert predict_script.main([str(foreign), files[0]]) == 1
    err = capsys.readouterr().err
    assert err.startswith("predict.py: Refusing to load") and f"{__name__}.Foreign" in err
