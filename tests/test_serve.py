"""The service, through a real server: every endpoint, every error, and equality with the commands.

Two servers (uvicorn on 127.0.0.1, in a thread) serve tiny models made here by the commands
a user runs: ``train.py`` (a HOG softmax pipeline on synthetic JPEGs, and a softmax on
scikit-learn's digits), ``extract_features.py`` (its ``extractor.skops``), and a linear SVM
pipeline without probabilities. The main server has the default limits; the strict one has
small limits, an API key and a long batching wait.
"""

import base64
import csv
import hashlib
import io
import json
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from skimage import data as skdata

from pipelines import make
from pipelines.batch import read_paths
from pipelines.datasets import decode_bytes, decode_image, load_image_folder
from pipelines.model_files import load_model, save_model
from pipelines.serve.app import create_app
from pipelines.serve.inputs import FORMS
from pipelines.serve.models import load_models
from pipelines.serve.settings import Settings
from scripts import extract_features as extract_script
from scripts import predict as predict_script
from scripts import train as train_script

from ._numerics import FLOAT32_EPS, float32_atol
from ._serve import (
    CLASSES,
    ThreadServer,
    encode,
    metric,
    png_header_only,
    synthetic_image,
    write_image_folder,
)

KEY = "s3cret-key"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Models made by the commands, and the files sent to them."""
    root = tmp_path_factory.mktemp("serve")
    folder = write_image_folder(root / "train")
    out = {"root": root, "folder": folder}
    train = [
        "--pipeline",
        "hog-softmax",
        "--data",
        str(folder),
        "--out",
        str(root / "shapes.skops"),
    ]
    assert train_script.main(train) == 0
    digits = ["--pipeline", "pixels-softmax", "--dataset", "digits"]
    assert train_script.main([*digits, "--out", str(root / "digits.skops")]) == 0
    extract = [str(folder), "--out", str(root / "extracted"), "--features", "hog,color"]
    assert extract_script.main([*extract, "--n-jobs", "1", "--quiet"]) == 0
    data = load_image_folder(folder)
    svm = make("hog+color-svm").fit(data.images, data.labels)
    save_model(svm, root / "svm.skops", class_names=CLASSES, input_shape=(32, 32, 3))

    rng = np.random.default_rng(7)
    new = root / "new"
    new.mkdir()
    paths = []
    for i in range(6):
        paths.append(new / f"new{i}.jpg")
        paths[-1].write_bytes(encode(synthetic_image(i % 2, rng)))
    paths.append(new / "astronaut.jpg")  # a photo of 512 x 512, resized by the one rule
    paths[-1].write_bytes(encode(skdata.astronaut()))
    out["good"] = list(paths)
    jpeg = paths[6].read_bytes()
    bad = {
        "text.txt": b"this is not an image",
        "empty.jpg": b"",
        "truncated.jpg": jpeg[: int(len(jpeg) * 0.7)],  # the last 30 % lost on the way
        "huge.png": png_header_only(5000, 5000),
    }
    for name, content in bad.items():
        (new / name).write_bytes(content)
    out["bad"] = {name: new / name for name in bad}
    # the order sent: good and bad images mixed
    out["mixed"] = [paths[0], new / "text.txt", paths[1], new / "empty.jpg", paths[6]]
    out["mixed"] += [new / "truncated.jpg", paths[2], new / "huge.png", paths[3]]
    return out


@pytest.fixture(scope="module")
def main_server(files):
    root = files["root"]
    specs = [f"shapes={root / 'shapes.skops'}", str(root / "svm.skops")]
    specs += [str(root / "digits.skops"), str(root / "extracted")]  # the folder: extractor
    with ThreadServer(create_app(load_models(specs))) as server:
        yield server


@pytest.fixture(scope="module")
def client(main_server):
    with httpx.Client(base_url=main_server.url, timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def strict(files):
    settings = Settings(
        max_body=60_000,
        max_images=3,
        max_pixels=40 * 40,
        api_key=KEY,
        max_batch=8,
        max_wait_ms=3000,
    )
    models = load_models([f"shapes={files['root'] / 'shapes.skops'}"])
    with ThreadServer(create_app(models, settings)) as server:
        yield server


def multipart(paths):
    return [("images", (p.name, p.read_bytes(), "application/octet-stream")) for p in paths]


def predict_csv(model_path, paths, capsys):
    predict_script.main([str(model_path), *map(str, paths)])
    return list(csv.DictReader(io.StringIO(capsys.readouterr().out)))


# -- health and models ------------------------------------------------------------------------
def test_health_and_server_metadata(client):
    assert client.get("/health/live").json()["status"] == "live"
    assert client.get("/health/ready").json() == {
        "status": "ready",
        "models": ["shapes", "svm", "digits", "extractor"],
    }
    assert client.get("/v2/health/live").json() == {"live": True}
    health = client.get("/v2/health/ready")
    assert health.status_code == 200 and health.json() == {"ready": True}
    meta = client.get("/v2").json()
    assert meta["name"] == "visionfeatures" and "binary_tensor_data" in meta["extensions"]
    ready = client.get("/v2/models/shapes/ready")
    assert ready.status_code == 200 and ready.json() == {"name": "shapes", "ready": True}
    assert ready.headers["content-type"] == "application/json"


def test_model_list_and_description(client, files):
    listing = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert {n: m["kind"] for n, m in listing.items()} == {
        "shapes": "classifier",
        "svm": "classifier",
        "digits": "classifier",
        "extractor": "extractor",
    }
    assert listing["digits"]["input"]["colour"] == "grey"
    assert (listing["digits"]["input"]["rows"], listing["digits"]["input"]["cols"]) == (8, 8)
    assert listing["svm"]["probabilities"] is False and listing["shapes"]["hog"] is True

    shapes = client.get("/v1/models/shapes").json()
    path = files["root"] / "shapes.skops"
    assert shapes["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert shapes["classes"] == list(CLASSES)
    assert shapes["input"] | {"resized": None} == {
        "rows": 32,
        "cols": 32,
        "channels": 3,
        "colour": "rgb",
        "resized": None,
    }
    assert [s["name"] for s in shapes["steps"]["steps"]] == ["features", "scale", "clf"]
    hog_params = shapes["steps"]["steps"][0]["params"]
    assert hog_params["orientations"] == 9 and hog_params["pixels_per_cell"] == [4, 4]
    fitted = load_model(path)["model"]
    names = fitted.named_steps["features"].get_feature_names_out().tolist()
    assert shapes["n_features"] == len(names) == 1764 and shapes["feature_names"] == names
    assert shapes["library"]["file"]["numpy"] == np.__version__
    assert shapes["library"]["server"]["scikit-learn"] == shapes["library"]["file"]["scikit-learn"]

    extractor = client.get("/v1/models/extractor").json()
    assert extractor["classes"] is None
    assert [s["name"] for s in extractor["steps"]["steps"]] == ["hog", "color"]


# -- predict ----------------------------------------------------------------------------------
def test_predict_equals_predict_py_with_errors_in_place(client, files, capsys):
    paths = files["mixed"]
    answer = client.post("/v1/models/shapes/predict", files=multipart(paths))
    assert answer.status_code == 200
    body = answer.json()
    assert body["model"] == "shapes" and len(body["predictions"]) == len(paths)
    rows = predict_csv(files["root"] / "shapes.skops", paths, capsys)
    fitted = load_model(files["root"] / "shapes.skops")["model"]
    for row, prediction in zip(rows, body["predictions"]):
        assert prediction["error"] == (row["error"] or None), row["path"]
        assert prediction["class"] == (row["class"] or None)
        if prediction["error"]:
            assert prediction["probabilities"] is None
            continue
        image = decode_image(row["path"], size=(32, 32))
        scaled = fitted[:-1].transform(image[None])
        clf = fitted[-1]
        scale = float((np.abs(scaled) @ np.abs(clf.coef_).T).max() + np.abs(clf.intercept_).max())
        atol = 5e-7 + float32_atol(scaled.shape[1], scale) + 4 * FLOAT32_EPS
        top = prediction["probabilities"][0]
        assert top["class"] == prediction["class"]
        assert abs(top["probability"] - float(row["probability"])) <= atol
        assert sum(p["probability"] for p in prediction["probabilities"]) == pytest.approx(1, 1e-5)
    errors = {p.name: e["error"] for p, e in zip(paths, body["predictions"])}
    assert errors["text.txt"] == "not a decodable image"
    assert errors["empty.jpg"] == "empty file"
    assert errors["truncated.jpg"] in (
        "not a decodable image",  # OpenCV 5 refuses a JPEG cut short
        "truncated JPEG (no end-of-image marker)",  # older OpenCV decodes what is there
    )
    # refused from the header: the file has no pixel data that could be decoded
    assert errors["huge.png"] == (
        "image of 5000x5000 pixels is over the limit of 16777216 pixels (max_pixels)"
    )
    assert [e is None for e in errors.values()] == [
        p.suffix == ".jpg" and p.name not in ("empty.jpg", "truncated.jpg") for p in paths
    ]


def test_grey_model_and_svm_equal_predict_py(client, files, capsys):
    digits = load_model(files["root"] / "digits.skops")
    assert digits["input_shape"] == [8, 8]
    paths = files["good"][:4]
    for name, model_file in [("digits", "digits.skops"), ("svm", "svm.skops")]:
        rows = predict_csv(files["root"] / model_file, paths, capsys)
        body = client.post(f"/v1/models/{name}/predict", files=multipart(paths)).json()
        assert [p["class"] for p in body["predictions"]] == [r["class"] for r in rows]
    assert all(p["probabilities"] is None for p in body["predictions"])  # a linear SVM


def test_json_base64_and_raw_body_give_the_same_answers(client, files):
    paths = files["good"][:3]
    by_form = client.post("/v1/models/shapes/predict", files=multipart(paths)).json()
    images = [base64.b64encode(p.read_bytes()).decode() for p in paths]
    images[1] = "data:image/jpeg;base64," + images[1]  # a browser's data URL
    by_json = client.post("/v1/models/shapes/predict", json={"images": images}).json()
    assert by_json == by_form
    for path, expected in zip(paths, by_form["predictions"]):
        raw = client.post(
            "/v1/models/shapes/predict",
            content=path.read_bytes(),
            headers={"Content-Type": "image/jpeg"},
        ).json()
        assert raw["predictions"] == [expected]
    bad = client.post("/v1/models/shapes/predict", json={"images": ["***", images[0]]}).json()
    assert bad["predictions"][0] == {
        "class": None,
        "probabilities": None,
        "error": "not valid base64",
    }
    assert bad["predictions"][1] == by_form["predictions"][0]


def test_top_k(client, files):
    paths = files["good"][:2]
    answer = client.post("/v1/models/digits/predict?top_k=3", files=multipart(paths)).json()
    for prediction in answer["predictions"]:
        probabilities = [p["probability"] for p in prediction["probabilities"]]
        assert len(probabilities) == 3 and probabilities == sorted(probabilities, reverse=True)
        assert prediction["probabilities"][0]["class"] == prediction["class"]
    everything = client.post("/v1/models/digits/predict", files=multipart(paths[:1])).json()
    assert len(everything["predictions"][0]["probabilities"]) == 10


# -- features ---------------------------------------------------------------------------------
def test_features_equal_extract_features_rows_byte_for_byte(client, files):
    out = files["root"] / "extracted"
    rows = np.load(out / "features.npy")
    paths = [files["folder"] / n for n in read_paths(out)][:12]
    answer = client.post("/v1/models/extractor/features", files=multipart(paths))
    body = answer.json()
    assert body["n_features"] == rows.shape[1] and body["errors"] == [None] * len(paths)
    served = np.asarray(body["features"], dtype=np.float64).astype(np.float32)
    assert served.tobytes() == rows[: len(paths)].tobytes()

    npy = client.post(
        "/v1/models/extractor/features",
        files=multipart(paths),
        headers={"Accept": "application/x-npy"},
    )
    assert npy.headers["content-type"] == "application/x-npy"
    array = np.load(io.BytesIO(npy.content), allow_pickle=False)
    assert array.dtype == np.float32 and array.tobytes() == rows[: len(paths)].tobytes()


def test_features_of_a_classifier_and_failed_rows(client, files):
    paths = [files["good"][0], files["bad"]["text.txt"], files["good"][6]]
    fitted = load_model(files["root"] / "shapes.skops")["model"]
    images = np.stack([decode_image(p, size=(32, 32)) for p in (paths[0], paths[2])])
    expected = fitted.named_steps["features"].transform(images).astype(np.float32)

    body = client.post("/v1/models/shapes/features", files=multipart(paths)).json()
    assert body["errors"] == [None, "not a decodable image", None]
    assert body["features"][1] is None
    served = np.asarray([body["features"][0], body["features"][2]]).astype(np.float32)
    assert served.tobytes() == expected.tobytes()

    npy = client.post(
        "/v1/models/shapes/features",
        files=multipart(paths),
        headers={"Accept": "application/x-npy"},
    )
    array = np.load(io.BytesIO(npy.content))
    assert npy.headers["x-failed-images"] == "1"
    assert np.isnan(array[1]).all() and array[[0, 2]].tobytes() == expected.tobytes()


def test_hog_picture(client, files):
    answer = client.post(
        "/v1/models/shapes/hog",
        content=files["good"][0].read_bytes(),
        headers={"Content-Type": "image/jpeg"},
    )
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
    picture = decode_bytes(answer.content, grey=True)
    assert picture.shape == (32, 32) and picture.std() > 10  # glyphs, not a blank image
    no_hog = client.post("/v1/models/digits/hog", files=multipart(files["good"][:1]))
    assert no_hog.status_code == 400 and no_hog.json()["error"] == "no HOG step"


# -- errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "method, url, kwargs, status, error",
    [
        ("post", "/v1/models/nope/predict", {"json": {"images": []}}, 404, "unknown model"),
        ("post", "/v1/models/nope/features", {"json": {"images": []}}, 404, "unknown model"),
        ("get", "/v1/models/nope", {}, 404, "unknown model"),
        ("get", "/v2/models/nope", {}, 404, "unknown model"),
        ("post", "/v2/models/nope/infer", {"json": {}}, 404, "unknown model"),
        ("get", "/no/such/path", {}, 404, "not found"),
        (
            "post",
            "/v1/models/shapes/predict",
            {"content": b"hello", "headers": {"Content-Type": "text/plain"}},
            415,
            "unsupported content type",
        ),
        ("post", "/v1/models/shapes/predict", {"content": b"x"}, 415, "unsupported content type"),
        ("post", "/v1/models/shapes/predict", {"json": {"images": []}}, 422, "no image"),
        ("post", "/v1/models/shapes/predict", {"json": {"pictures": ["a"]}}, 422, "no image"),
        (
            "post",
            "/v1/models/shapes/predict",
            {"files": [("other", ("a.jpg", b"abc", "image/jpeg"))]},
            422,
            "no image",
        ),
        (
            "post",
            "/v1/models/shapes/predict",
            {"content": b"", "headers": {"Content-Type": "image/png"}},
            422,
            "no image",
        ),
        (
            "post",
            "/v1/models/shapes/predict",
            {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
            400,
            "malformed JSON body",
        ),
        (
            "post",
            "/v1/models/shapes/predict?top_k=0",
            {"json": {"images": []}},
            422,
            "invalid request",
        ),
        ("post", "/v1/models/extractor/predict", {"json": {"images": []}}, 400, "not a classifier"),
        ("get", "/v1/models/shapes/predict", {}, 405, "method not allowed"),
    ],
)
def test_request_errors_are_one_line_json(client, method, url, kwargs, status, error):
    answer = getattr(client, method)(url, **kwargs)
    assert answer.status_code == status
    body = answer.json()
    assert body["error"] == error and isinstance(body["detail"], str) and body["detail"]
    assert "\n" not in body["detail"] and "Traceback" not in body["detail"]
    # the API document lists the status among the route's answers
    route = re.sub(r"^/(v\d)/models/[^/?]+", r"/\1/models/{name}", url.split("?")[0])
    operation = client.get("/openapi.json").json()["paths"].get(route, {}).get(method)
    if operation is not None:
        assert str(status) in operation["responses"], (route, method)


def test_error_details_say_what_went_wrong(client, files):
    # the detail of an error whose short name other causes share tells them apart
    empty = client.post(
        "/v1/models/shapes/predict", content=b"", headers={"Content-Type": "image/png"}
    )
    assert empty.status_code == 422
    assert empty.json() == {"error": "no image", "detail": f"the body is empty; send {FORMS}"}
    no_hog = client.post("/v1/models/digits/hog", files=multipart(files["good"][:1]))
    assert no_hog.status_code == 400
    assert no_hog.json() == {
        "error": "no HOG step",
        "detail": "model 'digits' computes no HOG features",
    }
    two = client.post("/v1/models/shapes/hog", files=multipart(files["good"][:2]))
    assert two.status_code == 422
    assert two.json() == {"error": "one image", "detail": "send one image; got 2"}


def test_limits_and_pixel_errors(strict, files):
    auth = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=strict.url, timeout=60, headers=auth) as c:
        big = b"\xff" * 70_000
        answer = c.post(
            "/v1/models/shapes/predict", content=big, headers={"Content-Type": "image/jpeg"}
        )
        assert answer.status_code == 413 and answer.json()["error"] == "request body too large"

        def chunks():  # no Content-Length: counted as it arrives
            for _ in range(10):
                yield b"\0" * 10_000

        chunked = c.post(
            "/v1/models/shapes/predict", content=chunks(), headers={"Content-Type": "image/png"}
        )
        assert chunked.status_code == 413
        assert re.fullmatch(
            r"the body is over \d+ bytes; the limit is 60000 bytes \(--max-body\)",
            chunked.json()["detail"],
        )
        four = files["good"][:4]
        answer = c.post("/v1/models/shapes/predict", files=multipart(four))
        assert answer.status_code == 413 and answer.json()["error"] == "too many images"
        encoded = [base64.b64encode(p.read_bytes()).decode() for p in four]
        assert c.post("/v1/models/shapes/predict", json={"images": encoded}).status_code == 413

        # an image over --max-pixels (40x40) gets its own error; the others are answered
        big = encode(synthetic_image(0, np.random.default_rng(5), shape=(48, 40)))
        form = [("images", ("big.jpg", big, "image/jpeg")), *multipart(files["good"][:1])]
        answer = c.post("/v1/models/shapes/predict", files=form)
        assert answer.status_code == 200
        first, second = answer.json()["predictions"]
        assert (
            first["error"] == "image of 48x40 pixels is over the limit of 1600 pixels (max_pixels)"
        )
        assert second["error"] is None and second["class"] in CLASSES
        tensor = {"name": "images", "datatype": "UINT8", "shape": [1, 48, 40, 3]}
        tensor["data"] = [0] * (48 * 40 * 3)
        answer = c.post("/v2/models/shapes/infer", json={"inputs": [tensor]})
        assert answer.status_code == 400
        assert "48x40 pixels are over the limit of 1600" in answer.json()["detail"]
        assert documented(c, "/v1/models/{name}/predict", "post") >= {"400", "413"}
        assert "400" in documented(c, "/v2/models/{name}/infer", "post")


def documented(client, route, method):
    """The statuses the server's API document lists for ``method route``."""
    return set(client.get("/openapi.json").json()["paths"][route][method]["responses"])


def test_too_many_images_says_how_many(strict, files):
    # a multipart body is refused as soon as a part is one too many: "more than"
    four = files["good"][:4]
    encoded = [base64.b64encode(p.read_bytes()).decode() for p in four]
    limit = "the limit is 3 per request (--max-images)"
    auth = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=strict.url, timeout=60, headers=auth) as c:
        parts = c.post("/v1/models/shapes/predict", files=multipart(four)).json()
        assert parts["detail"] == f"the request holds more than 3 images; {limit}"
        listed = c.post("/v1/models/shapes/predict", json={"images": encoded}).json()
        assert listed["detail"] == f"the request holds 4 images; {limit}"


def test_api_key(strict, files):
    url = strict.url
    image = {"content": files["good"][0].read_bytes(), "headers": {"Content-Type": "image/jpeg"}}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-API-Key": KEY + "x"}):
        answer = httpx.post(
            f"{url}/v1/models/shapes/predict",
            content=image["content"],
            headers={**image["headers"], **headers},
        )
        assert answer.status_code == 401 and answer.json()["error"] == "unauthorized"
        assert answer.headers["www-authenticate"] == "Bearer"
    assert httpx.get(f"{url}/v1/models").status_code == 401
    assert httpx.get(f"{url}/metrics").status_code == 401
    with httpx.Client(base_url=url) as c:  # each answers 401, as its document says
        for route in ("/v1/models/{name}/predict", "/v1/models", "/metrics"):
            method = "post" if route.endswith("predict") else "get"
            assert "401" in documented(c, route, method), route
    for open_path in ("/health/live", "/health/ready", "/v2/health/ready", "/", "/openapi.json"):
        assert httpx.get(f"{url}{open_path}").status_code == 200, open_path
    for headers in ({"Authorization": f"Bearer {KEY}"}, {"X-API-Key": KEY}):
        answer = httpx.get(f"{url}/v1/models", headers=headers)
        assert answer.status_code == 200 and answer.json()["models"][0]["name"] == "shapes"


def test_concurrent_requests_share_batches_and_keep_their_answers(strict, files):
    """8 single-image requests at once: gathered into batches (max 8, waiting up to 3 s), and
    every request gets the class of its own image."""
    auth = {"Authorization": f"Bearer {KEY}"}
    fitted = load_model(files["root"] / "shapes.skops")["model"]
    rng = np.random.default_rng(11)
    labels = [int(x) for x in rng.integers(0, 2, 8)]
    images = [encode(synthetic_image(label, rng)) for label in labels]
    expected = [
        CLASSES[int(fitted.predict(decode_bytes(b, size=(32, 32))[None])[0])] for b in images
    ]
    before = httpx.get(f"{strict.url}/metrics", headers=auth).text

    def send(data):
        return httpx.post(
            f"{strict.url}/v1/models/shapes/predict",
            content=data,
            headers={**auth, "Content-Type": "image/jpeg"},
            timeout=60,
        ).json()["predictions"][0]["class"]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, images))
    assert answers == expected
    after = httpx.get(f"{strict.url}/metrics", headers=auth).text
    name = "visionfeatures_batch_images"
    batches = metric(after, f"{name}_count", model="shapes") - metric(
        before, f"{name}_count", model="shapes"
    )
    images_run = metric(after, f"{name}_sum", model="shapes") - metric(
        before, f"{name}_sum", model="shapes"
    )
    assert images_run == 8 and batches < 8  # some requests shared a batch


# -- the open inference protocol --------------------------------------------------------------
def test_v2_model_metadata(client, files):
    meta = client.get("/v2/models/shapes").json()
    fitted = load_model(files["root"] / "shapes.skops")["model"]
    n_features = fitted[:-1].transform(np.zeros((1, 32, 32, 3), np.uint8)).shape[1]
    sha256 = hashlib.sha256((files["root"] / "shapes.skops").read_bytes()).hexdigest()
    assert meta == {
        "name": "shapes",
        "platform": "visionfeatures",
        "inputs": [
            {"name": "images", "datatype": "UINT8", "shape": [-1, 32, 32, 3]},
            {"name": "encoded_images", "datatype": "BYTES", "shape": [-1]},
        ],
        "outputs": [
            {"name": "label", "datatype": "BYTES", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, len(CLASSES)]},
            {"name": "features", "datatype": "FP32", "shape": [-1, n_features]},
        ],
        "classes": list(CLASSES),
        "parameters": {"kind": "classifier", "sha256": sha256},
    }
    extractor = client.get("/v2/models/extractor").json()
    assert [o["name"] for o in extractor["outputs"]] == ["features"]
    assert extractor["classes"] is None and extractor["parameters"]["kind"] == "extractor"


def test_v2_infer_uint8_tensor_as_in_the_protocol_spec(client, files):
    fitted = load_model(files["root"] / "shapes.skops")["model"]
    rng = np.random.default_rng(3)
    pixels = np.stack([synthetic_image(i % 2, rng) for i in range(3)])
    # the request object of the protocol's REST spec: id, inputs [name, shape, datatype,
    # data (row-major, flattened)], outputs [name]
    request = {
        "id": "42",
        "inputs": [
            {
                "name": "images",
                "shape": list(pixels.shape),
                "datatype": "UINT8",
                "data": pixels.reshape(-1).tolist(),
            }
        ],
        "outputs": [{"name": "label"}, {"name": "probabilities"}],
    }
    answer = client.post("/v2/models/shapes/infer", json=request)
    assert answer.status_code == 200
    body = answer.json()
    assert body["id"] == "42" and body["model_name"] == "shapes"
    label, proba = body["outputs"]
    assert label == {
        "name": "label",
        "datatype": "BYTES",
        "shape": [3],
        "data": [CLASSES[c] for c in fitted.predict(pixels)],
    }
    assert proba["datatype"] == "FP32" and proba["shape"] == [3, 2]
    np.testing.assert_allclose(
        np.reshape(proba["data"], (3, 2)), fitted.predict_proba(pixels), rtol=0, atol=1e-6
    )
    nested = dict(request, inputs=[dict(request["inputs"][0], data=pixels.tolist())])
    assert client.post("/v2/models/shapes/infer", json=nested).json() == body


def test_v2_infer_bytes_tensor_and_binary_extension(client, files):
    paths = files["good"][:3]
    by_form = client.post("/v1/models/shapes/predict", files=multipart(paths)).json()
    classes = [p["class"] for p in by_form["predictions"]]
    encoded = [base64.b64encode(p.read_bytes()).decode() for p in paths]
    request = {
        "inputs": [{"name": "encoded_images", "shape": [3], "datatype": "BYTES", "data": encoded}]
    }
    body = client.post("/v2/models/shapes/infer", json=request).json()
    assert body["outputs"][0]["data"] == classes and "id" not in body

    # the binary tensor data extension: JSON header, then the raw tensor bytes
    raw = b"".join(len(b).to_bytes(4, "little") + b for b in (p.read_bytes() for p in paths))
    header = {
        "inputs": [
            {
                "name": "encoded_images",
                "shape": [3],
                "datatype": "BYTES",
                "parameters": {"binary_data_size": len(raw)},
            }
        ],
        "outputs": [{"name": "features", "parameters": {"binary_data": True}}],
    }
    head = json.dumps(header).encode()
    answer = client.post(
        "/v2/models/shapes/infer",
        content=head + raw,
        headers={
            "Inference-Header-Content-Length": str(len(head)),
            "Content-Type": "application/octet-stream",
        },
    )
    assert answer.status_code == 200
    n = int(answer.headers["inference-header-content-length"])
    meta = json.loads(answer.content[:n])
    output = meta["outputs"][0]
    assert output["shape"] == [3, 1764] and output["parameters"]["binary_data_size"] == 3 * 1764 * 4
    rows = np.frombuffer(answer.content[n:], dtype="<f4").reshape(3, 1764)
    served = client.post("/v1/models/shapes/features", files=multipart(paths)).json()["features"]
    assert rows.tobytes() == np.asarray(served).astype(np.float32).tobytes()


@pytest.mark.parametrize(
    "tensor, outputs, status, fragment",
    [
        ({"datatype": "FP32", "shape": [1], "data": [1.0]}, None, 400, "is not UINT8"),
        ({"datatype": "UINT8", "shape": [1, 2, 2, 3], "data": [1] * 5}, None, 400, "hold 5 values"),
        ({"datatype": "UINT8", "shape": [1, 2, 2, 3], "data": [300] * 12}, None, 400, "0 to 255"),
        (
            {"datatype": "UINT8", "shape": [1, 2, 2, 1], "data": [1] * 4},
            None,
            400,
            "[n, rows, cols, 3]",
        ),
        (
            {"datatype": "BYTES", "shape": [1], "data": ["aGVsbG8="]},
            None,
            400,
            "image 0: not a decodable image",
        ),
        ({"datatype": "UINT8", "shape": [0, 2, 2, 3], "data": []}, None, 422, "holds no image"),
        (
            {"datatype": "UINT8", "shape": [1, 2, 2, 3], "data": [1] * 12},
            [{"name": "x"}],
            400,
            "no output 'x'",
        ),
    ],
)
def test_v2_infer_errors(client, tensor, outputs, status, fragment):
    request = {"inputs": [{"name": "images", **tensor}]}
    if outputs is not None:
        request["outputs"] = outputs
    answer = client.post("/v2/models/shapes/infer", json=request)
    assert answer.status_code == status
    body = answer.json()
    assert isinstance(body["error"], str) and fragment in body["detail"]


# -- metrics, the docs, clients that go away ----------------------------------------------------
def test_metrics(client, files):
    client.post(
        "/v1/models/shapes/predict", files=multipart([files["good"][0], files["bad"]["empty.jpg"]])
    )
    client.get("/v1/models/nope")
    text = client.get("/metrics").text
    route = "/v1/models/{name}/predict"
    assert (
        metric(text, "visionfeatures_requests_total", endpoint=route, method="POST", status="200")
        >= 1
    )
    assert (
        metric(
            text,
            "visionfeatures_requests_total",
            endpoint="/v1/models/{name}",
            method="GET",
            status="404",
        )
        >= 1
    )
    assert metric(text, "visionfeatures_images_total", model="shapes", outcome="ok") >= 1
    assert metric(text, "visionfeatures_images_total", model="shapes", outcome="error") >= 1
    assert metric(text, "visionfeatures_request_seconds_count", endpoint=route) >= 1
    assert metric(text, "visionfeatures_batch_images_count", model="shapes") >= 1
    assert 'visionfeatures_queue_images{model="shapes"}' in text


def test_histogram_buckets_are_each_exposed_once_in_increasing_order(client, files):
    # a histogram's buckets are cumulative series keyed by `le`: a repeated bound is a
    # duplicate series, which a Prometheus scrape rejects
    client.post("/v1/models/shapes/predict", files=multipart(files["good"][:1]))
    lines = client.get("/metrics").text.splitlines()
    for name, label in (
        ("visionfeatures_request_seconds_bucket{", 'endpoint="/v1/models/{name}/predict"'),
        ("visionfeatures_batch_images_bucket{", 'model="shapes"'),
    ):
        series = [x for x in lines if x.startswith(name) and label in x]
        bounds = [re.search(r'le="([^"]+)"', x)[1] for x in series]
        assert len(bounds) > 5 and bounds[-1] == "+Inf", (name, bounds)
        values = [float(b) for b in bounds[:-1]]
        assert all(a < b for a, b in zip(values, values[1:])), (name, bounds)
        if "seconds" in name:  # from 1 ms to beyond 10 s
            assert values[0] <= 0.001 and values[-1] >= 10, bounds
        else:  # batch sizes by powers of two, from one image to 1024
            assert values == [2.0**k for k in range(11)], bounds


def test_every_metric_has_a_help_line(client):
    # `# HELP name text`: what a dashboard shows next to each metric
    client.get("/health/live")
    helps = re.findall(r"^# HELP (\S+) ?(.*)$", client.get("/metrics").text, re.M)
    ours = {name: text for name, text in helps if name.startswith("visionfeatures_")}
    assert len(ours) >= 5 and all(text.strip() for text in ours.values()), ours


def test_the_api_document_types_every_schema_and_requires_what_it_needs(client):
    # what a client generator reads: each schema's type, the bodies and path parameters
    # that are required (OpenAPI 3: a path parameter must say required: true)
    document = client.get("/openapi.json").json()
    untyped = []

    def walk(node, where):
        if isinstance(node, dict):
            keywords = {"format", "minimum", "maximum", "items", "enum"}
            typed = {"type", "$ref", "anyOf", "oneOf", "allOf"}
            if keywords & node.keys() and not typed & node.keys():
                untyped.append(where)
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}/{i}")

    walk(document, "")
    assert untyped == []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                assert parameter["in"] != "path" or parameter["required"] is True, path
            if method == "post":  # every POST of the service reads images from its body
                assert operation["requestBody"]["required"] is True, path


def test_openapi_schema_and_docs(client):
    schema = client.get("/openapi.json").json()
    predict = schema["paths"]["/v1/models/{name}/predict"]["post"]
    assert set(predict["requestBody"]["content"]) == {
        "multipart/form-data",
        "application/json",
        "image/*",
    }
    assert "/v2/models/{name}/infer" in schema["paths"]
    assert "swagger" in client.get("/docs").text.lower()


def test_a_client_that_leaves_mid_upload_does_not_disturb_others(client, main_server, files):
    host, port = main_server.url.removeprefix("http://").split(":")
    jpeg = files["good"][0].read_bytes()
    expected = client.post(
        "/v1/models/shapes/predict", content=jpeg, headers={"Content-Type": "image/jpeg"}
    ).json()
    before = client.get("/metrics").text
    leaver = socket.create_connection((host, int(port)))
    leaver.sendall(
        b"POST /v1/models/shapes/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
        b"Content-Length: 200000\r\n\r\n" + jpeg[:500]
    )
    results = []

    def others():
        with httpx.Client(base_url=main_server.url, timeout=60) as c:
            for _ in range(5):
                r = c.post(
                    "/v1/models/shapes/predict",
                    content=jpeg,
                    headers={"Content-Type": "image/jpeg"},
                )
                results.append((r.status_code, r.json()))

    threads = [threading.Thread(target=others) for _ in range(3)]
    for t in threads:
        t.start()
    leaver.close()  # gone, 500 bytes into a body of 200,000
    for t in threads:
        t.join(timeout=120)
    assert results == [(200, expected)] * 15
    assert client.get("/health/ready").status_code == 200
    route = "/v1/models/{name}/predict"

    def count(text, status):
        return metric(
            text, "visionfeatures_requests_total", endpoint=route, method="POST", status=status
        )

    deadline = time.monotonic() + 30  # the server notices the closed connection by itself
    while count(client.get("/metrics").text, "499") == count(before, "499"):
        assert time.monotonic() < deadline, "the server never saw the client leave"
        time.sleep(0.05)
    text = client.get("/metrics").text
    assert count(text, "499") == count(before, "499") + 1  # "client closed request"
    assert count(text, "500") == count(before, "500") == 0
    assert count(text, "400") == count(before, "400")
