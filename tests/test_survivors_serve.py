"""Tests written for mutants of scripts/mutation.py that no other test caught: each pins one
behaviour of the library that the other tests did not look at closely enough (named in each
test's comment).

The service is asked in-process (httpx's ASGI transport, the app's lifespan entered by hand),
with models built in memory around tiny stand-ins.
"""

import asyncio
import base64
import io
import json
import logging
import os
import re
import struct
import time

import cv2
import httpx
import numpy as np
import pytest

from pipelines.serve.app import create_app
from pipelines.serve.settings import Settings

from ._serve import served_model


class _Features:
    """A fitted extractor's stand-in: two feature columns, the mean pixel and its double."""

    def get_feature_names_out(self):
        return np.array(["f0", "f1"])

    def transform(self, images):
        means = images.reshape(len(images), -1).mean(axis=1)
        return np.stack([means, 2 * means], axis=1)


class _Head:
    """A classifier head's stand-in: "stripes" for a bright image, else "bars"."""

    def predict(self, rows):
        return np.where(rows[:, 0] > 127, "stripes", "bars")

    def predict_proba(self, rows):
        p = (rows[:, 0] > 127).astype(float) * 0.5 + 0.25
        return np.stack([1 - p, p], axis=1)


def _classifier(name="m", shape=(8, 8, 3)):
    classes = ["bars", "stripes"]
    return served_model(shape, name=name, features=_Features(), head=_Head(), classes=classes)


def _png(image):
    bgr = image[..., ::-1] if image.ndim == 3 else image
    return cv2.imencode(".png", np.ascontiguousarray(bgr))[1].tobytes()


def _ask(models, requests, settings=None, *, started=True):
    """The app's answers to ``requests`` ((method, path, keyword arguments of httpx)), asked
    in-process; with ``started``, after its start-up (batchers, warm-up) is over."""

    async def run():
        app = create_app(models, settings)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            if not started:
                return [await client.request(m, p, **kw) for m, p, kw in requests]
            async with app.router.lifespan_context(app):
                # the warm-up task the start-up left running: over, succeeded or failed
                await asyncio.wait_for(asyncio.shield(app.state.service._warming), 30)
                return [await client.request(m, p, **kw) for m, p, kw in requests]

    return asyncio.run(run())


# -- app.Service._warm_up ---------------------------------------------------------------------
def test_a_failed_warm_up_keeps_the_server_not_ready_and_says_why(caplog):
    # app.Service._warm_up: a model whose warm-up fails leaves /health/ready at 503 with the
    # reason (exception type and message), and the log says so
    model = served_model((8, 8), name="digits", kind="extractor", features=_Features())
    reason = (
        "RuntimeError: warm-up of model 'digits' failed: not a decodable image (ValueError: "
        "size 8x8 is 64 pixels, over the limit of 10 pixels per image (max_pixels, "
        "--max-pixels).)"
    )
    with caplog.at_level(logging.INFO, logger="pipelines.serve.app"):
        ready, v2, model_ready = _ask(
            {"digits": model},
            [
                ("GET", "/health/ready", {}),
                ("GET", "/v2/health/ready", {}),
                ("GET", "/v2/models/digits/ready", {}),
            ],
            Settings(max_pixels=10),
        )
    assert (ready.status_code, ready.json()) == (503, {"error": "not ready", "detail": reason})
    assert (v2.status_code, v2.json()) == (503, {"ready": False})
    assert (model_ready.status_code, model_ready.json()) == (
        503,
        {"name": "digits", "ready": False},
    )
    logged = [r.getMessage() for r in caplog.records if r.name == "pipelines.serve.app"]
    assert logged == [f"warm-up failed, the server stays not ready: {reason}"]


def test_a_warmed_up_server_is_ready_lists_its_models_and_logs_its_start_up(caplog):
    # app.Service._warm_up: once every model answered its warm-up batch, both health routes
    # say ready, and the log says how many models took how long, in which process
    models = {"a": _classifier("a"), "b": _classifier("b", shape=(8, 8))}
    start = time.perf_counter()
    with caplog.at_level(logging.INFO, logger="pipelines.serve.app"):
        ready, v2 = _ask(models, [("GET", "/health/ready", {}), ("GET", "/v2/health/ready", {})])
    elapsed = time.perf_counter() - start
    assert (ready.status_code, ready.json()) == (200, {"status": "ready", "models": ["a", "b"]})
    assert (v2.status_code, v2.json()) == (200, {"ready": True})
    (logged,) = [r.getMessage() for r in caplog.records if r.name == "pipelines.serve.app"]
    said = re.fullmatch(
        rf"ready: 2 model\(s\) loaded and warmed up in (\d+\.\d) s \(pid {os.getpid()}\)", logged
    )
    assert said and float(said[1]) <= elapsed + 0.05, logged


# -- app's hog route: what is not an image --------------------------------------------------
def _hog_model():
    from features import HOG

    rng = np.random.default_rng(0)
    hog = HOG(pixels_per_cell=(4, 4)).fit(rng.integers(0, 256, (2, 16, 16), dtype=np.uint8))
    return served_model((16, 16), name="h", kind="extractor", model=hog, features=hog)


def test_the_hog_route_refuses_what_is_not_an_image_with_the_reason():
    # app.hog: bad base64 (an ImageError before decoding) and undecodable bytes (an
    # ImageError of the picture) are both 422 "not an image", with the image's reason
    image = np.random.default_rng(1).integers(0, 256, (16, 16), dtype=np.uint8)
    bad_base64, undecodable, good = _ask(
        {"h": _hog_model()},
        [
            ("POST", "/v1/models/h/hog", {"json": {"images": ["not base64!"]}}),
            (
                "POST",
                "/v1/models/h/hog",
                {"content": b"not an image", "headers": {"Content-Type": "image/png"}},
            ),
            (
                "POST",
                "/v1/models/h/hog",
                {"content": _png(image), "headers": {"Content-Type": "image/png"}},
            ),
        ],
    )
    assert (bad_base64.status_code, bad_base64.json()) == (
        422,
        {"error": "not an image", "detail": "not valid base64"},
    )
    assert (undecodable.status_code, undecodable.json()) == (
        422,
        {"error": "not an image", "detail": "not a decodable image"},
    )
    assert good.status_code == 200 and good.headers["content-type"] == "image/png"
    assert cv2.imdecode(np.frombuffer(good.content, np.uint8), 0).shape == (16, 16)


# -- app's RequestValidationError handler -----------------------------------------------------
def test_a_validation_error_is_one_line_naming_each_field():
    # app.on_invalid: FastAPI's validation errors in the service's format, each problem as
    # "field: message" (the location after query/body/path, dotted; "request" for the whole
    # body), joined by "; "
    from pydantic import BaseModel

    class Inner(BaseModel):
        b: int

    class Outer(BaseModel):
        a: Inner

    app = create_app({})

    @app.get("/count")
    async def count(n: int, m: int):
        return {"n": n}

    @app.post("/nested")
    async def nested(item: Outer):
        return {}

    async def ask():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [
                await client.get("/count?n=x&m=y"),
                await client.post("/nested", json={"a": {"b": "x"}}),
                await client.post("/nested"),
            ]

    query, field, whole = asyncio.run(ask())
    integer = "Input should be a valid integer, unable to parse string as an integer"
    assert (query.status_code, query.json()) == (
        422,
        {"error": "invalid request", "detail": f"n: {integer}; m: {integer}"},
    )
    assert (field.status_code, field.json()) == (
        422,
        {"error": "invalid request", "detail": f"a.b: {integer}"},
    )
    assert (whole.status_code, whole.json()) == (
        422,
        {"error": "invalid request", "detail": "request: Field required"},
    )


# -- models.ServedModel.check_pixels ------------------------------------------------------------
def test_a_grey_model_takes_pixels_of_one_channel_as_grey_images():
    # models.check_pixels: [n, rows, cols, 1] is the same grey images as [n, rows, cols]
    rng = np.random.default_rng(2)
    pixels = rng.integers(0, 256, (2, 8, 8), dtype=np.int64)
    model = served_model((8, 8))
    checked = model.check_pixels(pixels[..., None])
    assert checked.dtype == np.uint8 and checked.shape == (2, 8, 8)
    np.testing.assert_array_equal(checked, pixels)
    np.testing.assert_array_equal(model.check_pixels(pixels), pixels)


# -- oip's infer route: binary outputs --------------------------------------------------------
def test_a_binary_label_output_is_each_length_then_its_utf8_bytes():
    # oip._encode: a BYTES output asked for as binary data: each label's 4-byte little-endian
    # length, then the label, after the JSON header of Inference-Header-Content-Length bytes
    dark, bright = np.zeros((8, 8, 3), np.uint8), np.full((8, 8, 3), 250, np.uint8)
    document = {
        "id": "r1",
        "inputs": [
            {"name": "images", "datatype": "UINT8", "shape": [3, 8, 8, 3], "data": None},
        ],
        "outputs": [{"name": "label", "parameters": {"binary_data": True}}],
    }
    document["inputs"][0]["data"] = np.stack([dark, bright, dark]).reshape(-1).tolist()
    (answer,) = _ask({"m": _classifier()}, [("POST", "/v2/models/m/infer", {"json": document})])
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/octet-stream"
    n = int(answer.headers["inference-header-content-length"])
    expected = b"".join(struct.pack("<I", len(w)) + w for w in (b"bars", b"stripes", b"bars"))
    assert answer.content[n:] == expected
    assert json.loads(answer.content[:n]) == {
        "model_name": "m",
        "outputs": [
            {
                "name": "label",
                "datatype": "BYTES",
                "shape": [3],
                "parameters": {"binary_data_size": len(expected)},
            }
        ],
        "id": "r1",
    }


# -- batching.MicroBatcher --------------------------------------------------------------------
def _first_then_the_rest(rest, max_wait):
    """Submit ["a"], then, once the collector waits with it, ``rest``, which fills the batch.

    Returns the two answers and the batches run.
    """
    from pipelines.serve.batching import MicroBatcher

    batches = []

    async def main():
        batcher = MicroBatcher(
            lambda items: batches.append(list(items)) or items,
            max_batch=1 + len(rest),
            max_wait=max_wait,
        )
        batcher.start()
        first = asyncio.ensure_future(batcher.submit(["a"]))
        await asyncio.sleep(0.05)  # the collector waits for company
        second = asyncio.ensure_future(batcher.submit(rest))
        answers = await asyncio.wait_for(asyncio.gather(first, second), 2)
        await batcher.close()
        return answers

    return asyncio.run(main()), batches


def test_requests_arriving_within_the_wait_share_one_batch():
    # batching._collect: the first image waits up to max_wait for others to join its batch
    # (here the batch fills, and goes, well before the wait is over)
    answers, batches = _first_then_the_rest(["b", "c"], max_wait=0.8)
    assert answers == [["a"], ["b", "c"]]
    assert batches == [["a", "b", "c"]]


def test_a_batcher_names_its_thread_and_runs_calls_between_batches():
    # batching.MicroBatcher: one worker thread, named after the model ("model" by default),
    # runs the batches and the calls (warm-up, pictures): a call never runs during a batch;
    # the collector task is named after the model too
    import threading

    from pipelines.serve.batching import MicroBatcher

    release, running, seen, tasks = threading.Event(), threading.Event(), [], []

    def run(items):
        running.set()
        seen.append(threading.current_thread().name)
        release.wait(5)
        running.clear()
        return items

    def during_a_batch():
        seen.append(threading.current_thread().name)
        return running.is_set()

    async def main(name):
        kwargs = {} if name is None else {"name": name}
        batcher = MicroBatcher(run, max_batch=1, max_wait=0, **kwargs)
        batcher.start()
        tasks.append({task.get_name() for task in asyncio.all_tasks()})
        job = asyncio.ensure_future(batcher.submit(["a"]))
        for _ in range(5000):  # 5 s at most
            if running.is_set() or job.done():
                break
            await asyncio.sleep(0.001)
        asyncio.get_running_loop().call_later(0.05, release.set)
        overlapped = await batcher.call(during_a_batch)
        answer = await job
        await batcher.close()
        release.clear()
        return overlapped, answer

    assert asyncio.run(main("digits")) == (False, ["a"])
    assert asyncio.run(main(None)) == (False, ["a"])
    assert [name.rsplit("_", 1)[0] for name in seen] == ["batch-digits"] * 2 + ["batch-model"] * 2
    # its collector task too, as asyncio's task listings show it
    assert "batcher-digits" in tasks[0] and "batcher-model" in tasks[1]


def test_a_batcher_not_started_says_so_with_its_default_name():
    # batching.MicroBatcher.submit: before start(), a request is refused at once
    from pipelines.serve.batching import MicroBatcher

    async def main():
        with pytest.raises(RuntimeError) as raised:
            await MicroBatcher(lambda items: items, max_batch=2, max_wait=0).submit([1])
        return str(raised.value)

    assert asyncio.run(main()) == "The batcher of 'model' is not running."


def test_a_request_cancelled_while_its_batch_runs_leaves_the_batcher_running():
    # batching._collect: the answer (or the error) of a batch is not set on a request that
    # is already gone, and the batcher goes on answering the others
    import threading

    from pipelines.serve.batching import MicroBatcher

    started, proceed, finished = threading.Event(), threading.Event(), threading.Event()

    def run(items):
        started.set()
        proceed.wait(5)
        finished.set()
        if "bad" in items:
            raise ValueError("cannot run this batch")
        return [item.upper() for item in items]

    async def until(event, job):
        for _ in range(5000):  # 5 s at most
            if event.is_set() or job.done():
                break
            await asyncio.sleep(0.001)

    async def cancelled_during_its_batch(batcher, items):
        job = asyncio.ensure_future(batcher.submit(items))
        await until(started, job)
        job.cancel()
        proceed.set()  # the batch ends after the cancellation
        await until(finished, job)
        await asyncio.sleep(0.01)  # the collector handles the batch's end
        for event in (started, proceed, finished):
            event.clear()

    async def main():
        batcher = MicroBatcher(run, max_batch=4, max_wait=0)
        batcher.start()
        await cancelled_during_its_batch(batcher, ["a"])
        await cancelled_during_its_batch(batcher, ["bad"])
        proceed.set()
        later = await asyncio.wait_for(batcher.submit(["b", "c"]), 5)
        await batcher.close()
        return later

    assert asyncio.run(main()) == ["B", "C"]


def test_closing_with_a_cancelled_request_in_the_queue_fails_only_the_others():
    # batching.MicroBatcher.close: a request the client gave up on is left as it is
    from pipelines.serve.batching import MicroBatcher

    async def main():
        batcher = MicroBatcher(lambda items: items, max_batch=8, max_wait=30)
        batcher.start()
        gone = asyncio.ensure_future(batcher.submit(["gone"]))
        waiting = asyncio.ensure_future(batcher.submit(["waiting"]))
        await asyncio.sleep(0.01)
        gone.cancel()
        await asyncio.sleep(0)
        await batcher.close()
        return gone.cancelled(), await asyncio.gather(waiting, return_exceptions=True)

    cancelled, (error,) = asyncio.run(main())
    assert cancelled and str(error) == "The server is shutting down."


# -- settings.Settings ------------------------------------------------------------------------
def test_settings_cannot_be_changed_after_their_checks():
    # settings.Settings is frozen: a limit set later would skip the checks of __post_init__
    import dataclasses

    settings = Settings(max_batch=8)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.max_batch = 0
    assert settings.max_batch == 8


def test_the_settings_repr_shows_every_limit_and_hides_the_key():
    # settings.Settings.__repr__: what a log line shows; the key itself never
    assert repr(Settings(api_key="s3cret", max_batch=8, max_wait_ms=2.5)) == (
        "Settings(max_batch=8, max_wait_ms=2.5, max_body=33554432, max_images=1024, "
        "max_pixels=16777216, api_key=***)"
    )
    assert repr(Settings()).endswith(", api_key=None)")


# -- metrics ----------------------------------------------------------------------------------
def _samples(text, name):
    """{labels text: value} of the samples called ``name`` in Prometheus text."""
    found = {}
    for line in text.splitlines():
        sample = re.fullmatch(rf"{re.escape(name)}(?:\{{(.*)\}})? (\S+)", line)
        if sample:
            found[sample[1] or ""] = float(sample[2])
    return found


def test_requests_are_counted_by_route_method_and_status_with_their_latency():
    # metrics.ServiceMiddleware: each answered request is counted under its route template
    # (or "unmatched"), its method and its status, and its time to answer is observed
    start = time.perf_counter()
    *_, scrape = _ask(
        {"m": _classifier()},
        [
            ("GET", "/v1/models/m", {}),
            ("GET", "/v1/models/m", {}),
            ("GET", "/v1/models/nope", {}),
            ("GET", "/no/such/path", {}),
            ("GET", "/metrics", {}),
        ],
        started=False,
    )
    elapsed = time.perf_counter() - start
    text = scrape.text
    assert _samples(text, "visionfeatures_requests_total") == {
        'endpoint="/v1/models/{name}",method="GET",status="200"': 2.0,
        'endpoint="/v1/models/{name}",method="GET",status="404"': 1.0,
        'endpoint="unmatched",method="GET",status="404"': 1.0,
    }
    counts = _samples(text, "visionfeatures_request_seconds_count")
    assert counts == {'endpoint="/v1/models/{name}"': 3.0, 'endpoint="unmatched"': 1.0}
    seconds = _samples(text, "visionfeatures_request_seconds_sum")
    assert 0 < sum(seconds.values()) <= elapsed


def test_the_latency_buckets_are_the_reviewed_ones():
    # metrics.Metrics: the bounds of the latency histogram, which dashboards and alerts name
    from pipelines.serve.metrics import Metrics

    metrics = Metrics()
    metrics.observe("/x", "GET", 200, 0.003)
    text = metrics.render().decode()
    bounds = re.findall(
        r'^visionfeatures_request_seconds_bucket\{endpoint="/x",le="([^"]+)"\}', text, re.M
    )
    expected = "0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1.0 2.5 5.0 10.0 30.0 +Inf"
    assert bounds == expected.split()


def test_with_several_workers_a_scrape_reports_what_every_worker_wrote(tmp_path, monkeypatch):
    # metrics.Metrics.render: under PROMETHEUS_MULTIPROC_DIR (--workers N), the values come
    # from the workers' files there, summed, not from this process alone
    from prometheus_client.mmap_dict import MmapedDict, mmap_key

    from pipelines.serve.metrics import Metrics

    labels = {"endpoint": "/v1/models", "method": "GET", "status": "200"}
    for pid, value in ((101, 2.0), (102, 3.0)):
        worker = MmapedDict(str(tmp_path / f"counter_{pid}.db"))
        key = mmap_key(
            "visionfeatures_requests",
            "visionfeatures_requests_total",
            list(labels),
            list(labels.values()),
            "HTTP requests by route and status.",
        )
        worker.write_value(key, value, 0.0)
        worker.close()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    text = Metrics().render().decode()
    assert _samples(text, "visionfeatures_requests_total") == {
        'endpoint="/v1/models",method="GET",status="200"': 5.0
    }


def test_a_request_that_ends_without_an_answer_is_counted_as_a_500():
    # metrics.ServiceMiddleware: a request whose handler is stopped before it answers (a
    # BaseException such as a cancellation passes FastAPI's error handlers) still counts
    class Stopped(BaseException):
        pass

    app = create_app({})

    @app.get("/stopped")
    async def stopped():
        raise Stopped()

    async def ask():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            with pytest.raises(Stopped):
                await client.get("/stopped")

    asyncio.run(ask())
    text = app.state.service.metrics.render().decode()
    assert _samples(text, "visionfeatures_requests_total") == {
        'endpoint="/stopped",method="GET",status="500"': 1.0
    }


# -- inputs -----------------------------------------------------------------------------------
def test_a_multipart_parse_error_is_told_in_the_parsers_words(monkeypatch):
    # inputs.multipart_images: python-multipart's own message is the detail; its class name
    # when the message is empty
    from python_multipart.multipart import MultipartParser

    from pipelines.serve import inputs

    with pytest.raises(Exception) as parsed:
        MultipartParser(b"xx", {}).write(b"garbage")
    assert str(parsed.value)
    multipart = "multipart/form-data; boundary=xx"
    with pytest.raises(inputs.ApiError) as raised:
        inputs.multipart_images(b"garbage", multipart, max_images=2)
    error = raised.value
    assert (error.status, error.error, error.detail) == (
        400,
        "malformed multipart body",
        str(parsed.value),
    )

    class Silent:
        def __init__(self, *args):
            raise ValueError()

    monkeypatch.setattr(inputs, "MultipartParser", Silent)
    with pytest.raises(inputs.ApiError) as raised:
        inputs.multipart_images(b"--xx--\r\n", multipart, max_images=2)
    assert raised.value.detail == "ValueError"


def test_the_headers_of_a_refusal_go_out_with_its_answer():
    # inputs.ApiError: headers given to a refusal are sent with its error answer; none by
    # default
    from pipelines.serve.inputs import ApiError

    assert ApiError(400, "e", "d").headers == {}
    app = create_app({})

    @app.get("/busy")
    async def busy():
        raise ApiError(429, "busy", "try again in 1 s", headers={"Retry-After": "1"})

    async def ask():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get("/busy")

    answer = asyncio.run(ask())
    assert (answer.status_code, answer.json()) == (
        429,
        {"error": "busy", "detail": "try again in 1 s"},
    )
    assert answer.headers["retry-after"] == "1"


# -- models.ServedModel: summary, description, warm-up ---------------------------------------
RESIZED = "every image is decoded and resized to rows x cols, as for training"


def test_a_served_model_summarises_its_input_outputs_and_hog():
    # models.summary / input_description / description / hog: what GET /v1/models and
    # /v1/models/{name} say of a grey extractor whose HOG sits in a union, and of an RGB
    # classifier with probabilities and no HOG
    from sklearn.pipeline import FeatureUnion

    from features import HOG, RawPixels
    from pipelines._runtime import library_versions
    from pipelines.serve.models import describe_estimator

    rng = np.random.default_rng(3)
    union = FeatureUnion([("raw", RawPixels()), ("hog", HOG(pixels_per_cell=(4, 4)))])
    union.fit(rng.integers(0, 256, (2, 16, 16), dtype=np.uint8))
    extractor = served_model((16, 16), name="u", kind="extractor", model=union, features=union)
    n_features = len(union.get_feature_names_out())
    assert extractor.hog() is union.transformer_list[1][1]
    summary = {
        "name": "u",
        "kind": "extractor",
        "input": {"rows": 16, "cols": 16, "channels": 1, "colour": "grey", "resized": RESIZED},
        "classes": None,
        "probabilities": False,
        "n_features": n_features,
        "hog": True,
        "sha256": "",
    }
    assert extractor.summary() == summary
    assert extractor.description() == {
        **summary,
        "file": "u.skops",
        "steps": describe_estimator(union),
        "feature_names": [str(n) for n in union.get_feature_names_out()],
        "library": {"file": {}, "server": library_versions()},
    }
    classifier = _classifier("c", shape=(8, 6, 3))
    assert classifier.summary() == {
        "name": "c",
        "kind": "classifier",
        "input": {"rows": 8, "cols": 6, "channels": 3, "colour": "rgb", "resized": RESIZED},
        "classes": ["bars", "stripes"],
        "probabilities": True,
        "n_features": 2,
        "hog": False,
        "sha256": "",
    }


def test_a_classifiers_warm_up_runs_its_whole_pipeline():
    # models.warm_up: the warm-up images go through the features and the head (predict and
    # predict_proba), so that the first request compiles nothing
    calls = []

    class Head(_Head):
        def predict(self, rows):
            calls.append(("predict", len(rows)))
            return super().predict(rows)

        def predict_proba(self, rows):
            calls.append(("predict_proba", len(rows)))
            return super().predict_proba(rows)

    model = _classifier()
    model.head = Head()
    assert model.warm_up(64) == 4
    assert calls == [("predict", 4), ("predict_proba", 4)]


# -- oip: metadata of a grey model, binary_data_output ----------------------------------------
def test_a_grey_models_v2_metadata_takes_one_channel():
    # oip.model_metadata: a grey extractor takes [n, rows, cols, 1] pixels and gives features
    from pipelines.serve.oip import model_metadata

    model = served_model((8, 6), name="g", kind="extractor", features=_Features())
    assert model_metadata(model) == {
        "name": "g",
        "platform": "visionfeatures",
        "inputs": [
            {"name": "images", "datatype": "UINT8", "shape": [-1, 8, 6, 1]},
            {"name": "encoded_images", "datatype": "BYTES", "shape": [-1]},
        ],
        "outputs": [{"name": "features", "datatype": "FP32", "shape": [-1, 2]}],
        "classes": None,
        "parameters": {"kind": "extractor", "sha256": ""},
    }


def test_binary_data_output_makes_every_output_binary_unless_it_says_otherwise():
    # oip.infer: the request's binary_data_output is the default of each output's
    # binary_data; the binary parts follow the JSON header in the order of the outputs
    dark, bright = np.zeros((8, 8, 3), np.uint8), np.full((8, 8, 3), 250, np.uint8)
    pixels = np.stack([bright, dark])
    tensor = {"name": "images", "datatype": "UINT8", "shape": [2, 8, 8, 3]}
    tensor["data"] = pixels.reshape(-1).tolist()
    both = {"inputs": [tensor], "parameters": {"binary_data_output": True}}
    one = dict(both, outputs=[{"name": "label", "parameters": {"binary_data": False}}])
    one["outputs"].append({"name": "probabilities"})
    answers = _ask(
        {"m": _classifier()},
        [
            ("POST", "/v2/models/m/infer", {"json": both}),
            ("POST", "/v2/models/m/infer", {"json": one}),
        ],
    )
    labels = b"".join(struct.pack("<I", len(w)) + w for w in (b"stripes", b"bars"))
    proba = np.array([[0.25, 0.75], [0.75, 0.25]], "<f4").tobytes()
    heads = []
    for answer, binary in zip(answers, (labels + proba, proba)):
        assert answer.status_code == 200
        n = int(answer.headers["inference-header-content-length"])
        assert answer.content[n:] == binary
        heads.append(json.loads(answer.content[:n])["outputs"])
    assert [o.get("parameters") for o in heads[0]] == [
        {"binary_data_size": len(labels)},
        {"binary_data_size": len(proba)},
    ]
    assert heads[1][0] == {
        "name": "label",
        "datatype": "BYTES",
        "shape": [2],
        "data": ["stripes", "bars"],
    }
    assert heads[1][1]["parameters"] == {"binary_data_size": len(proba)}


def test_a_batch_that_fills_while_its_first_image_waits_goes_at_once():
    # batching.MicroBatcher.submit: the image that completes a batch ends the wait of the
    # images already waiting (max_wait is 10 s here)
    answers, batches = _first_then_the_rest(["b", "c", "d"], max_wait=10)
    assert answers == [["a"], ["b", "c", "d"]]
    assert batches == [["a", "b", "c", "d"]]


# -- app: the routes' answers -----------------------------------------------------------------
def test_an_unknown_model_is_told_which_models_there_are():
    # app.Service.model: the 404 names the model asked for and lists the others
    requests = [("GET", "/v1/models/x", {}), ("GET", "/v2/models/x", {})]
    two = _ask({"a": _classifier("a"), "b": _classifier("b")}, requests, started=False)
    none = _ask({}, requests, started=False)
    for answers, known in ((two, "a, b"), (none, "none")):
        for answer in answers:
            assert (answer.status_code, answer.json()) == (
                404,
                {"error": "unknown model", "detail": f"no model is named 'x'; models: {known}"},
            )


def test_the_frameworks_own_http_errors_are_in_the_service_format():
    # app.on_http_error: 404 names the path, 405 keeps its Allow header, any other status
    # keeps its detail and headers under the short name "error"
    from starlette.exceptions import HTTPException

    app = create_app({})

    @app.get("/teapot")
    async def brew():
        raise HTTPException(418, "short and stout", headers={"X-Pot": "tea"})

    async def ask():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [
                await client.get("/no/such/path"),
                await client.get("/v1/models/m/predict"),
                await client.get("/teapot"),
            ]

    missing, method, teapot = asyncio.run(ask())
    assert (missing.status_code, missing.json()) == (
        404,
        {"error": "not found", "detail": "no endpoint at /no/such/path; see /docs"},
    )
    assert (method.status_code, method.json()) == (
        405,
        {"error": "method not allowed", "detail": "Method Not Allowed"},
    )
    assert method.headers["allow"] == "POST"
    assert (teapot.status_code, teapot.json()) == (
        418,
        {"error": "error", "detail": "short and stout"},
    )
    assert teapot.headers["x-pot"] == "tea"


def test_liveness_names_the_process_and_the_favicon_is_empty():
    # app.live and app.favicon: the probe's answer, and no 404 for a browser's favicon
    live, favicon = _ask(
        {}, [("GET", "/health/live", {}), ("GET", "/favicon.ico", {})], started=False
    )
    assert (live.status_code, live.json()) == (200, {"status": "live", "pid": os.getpid()})
    assert (favicon.status_code, favicon.content) == (204, b"")


def test_features_answers_list_rows_and_errors_in_request_order():
    # app.features: JSON rows and errors in request order; as .npy, NaN rows for the images
    # that could not be read, listed in X-Failed-Images
    dark, bright = np.zeros((8, 8, 3), np.uint8), np.full((8, 8, 3), 200, np.uint8)
    images = {"images": ["***", base64.b64encode(_png(dark)).decode(), "***"]}
    images["images"].append(base64.b64encode(_png(bright)).decode())
    as_json, as_npy = _ask(
        {"m": _classifier()},
        [
            ("POST", "/v1/models/m/features", {"json": images}),
            (
                "POST",
                "/v1/models/m/features",
                {"json": images, "headers": {"Accept": "application/x-npy"}},
            ),
        ],
    )
    assert (as_json.status_code, as_json.json()) == (
        200,
        {
            "model": "m",
            "n_features": 2,
            "features": [None, [0.0, 0.0], None, [200.0, 400.0]],
            "errors": ["not valid base64", None, "not valid base64", None],
        },
    )
    assert as_npy.headers["x-failed-images"] == "0,2"
    rows = np.load(io.BytesIO(as_npy.content), allow_pickle=False)
    expected = [[np.nan, np.nan], [0, 0], [np.nan, np.nan], [200, 400]]
    np.testing.assert_array_equal(rows, np.array(expected, np.float32))


def test_images_are_counted_by_outcome_per_model():
    # app.Service.run: each image answered counts once, as "ok" or as "error"
    bright = base64.b64encode(_png(np.full((8, 8, 3), 200, np.uint8))).decode()
    only_bad = {"json": {"images": ["***"]}}
    mixed = {"json": {"images": [bright, "***", bright, "***", "***"]}}
    *_, first, _, second = _ask(
        {"m": _classifier()},
        [
            ("POST", "/v1/models/m/predict", only_bad),
            ("GET", "/metrics", {}),
            ("POST", "/v1/models/m/predict", mixed),
            ("GET", "/metrics", {}),
        ],
    )
    assert _samples(first.text, "visionfeatures_images_total") == {'model="m",outcome="error"': 1.0}
    assert _samples(second.text, "visionfeatures_images_total") == {
        'model="m",outcome="error"': 4.0,
        'model="m",outcome="ok"': 2.0,
    }


def test_a_request_without_the_key_is_told_how_to_send_it():
    # metrics.ServiceMiddleware: the 401 answer, in the service's error format
    (refused,) = _ask({}, [("GET", "/v1/models", {})], Settings(api_key="k"), started=False)
    assert refused.status_code == 401
    assert refused.json() == {
        "error": "unauthorized",
        "detail": "this server needs an API key: send 'Authorization: Bearer KEY' or "
        "'X-API-Key: KEY'",
    }
    assert refused.headers["content-type"] == "application/json"
    assert refused.headers["www-authenticate"] == "Bearer"


def test_an_images_answer_cannot_be_changed_once_made():
    # models.Prediction and models.ImageError are frozen: one answer may be shared by the
    # requests and the metrics that read it
    import dataclasses

    from pipelines.serve.models import ImageError, Prediction

    for answer, field in ((Prediction("bars"), "label"), (ImageError("bad"), "reason")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(answer, field, "other")


def test_closing_waits_for_the_batch_running_in_the_worker_thread():
    # batching.MicroBatcher.close: it returns once the worker thread has finished the batch
    # it was running, so that nothing of the model runs after the server has stopped
    import threading

    from pipelines.serve.batching import MicroBatcher

    started, finished = threading.Event(), threading.Event()

    def run(items):
        started.set()
        time.sleep(0.3)
        finished.set()
        return items

    async def main():
        batcher = MicroBatcher(run, max_batch=1, max_wait=0)
        batcher.start()
        job = asyncio.ensure_future(batcher.submit(["a"]))
        for _ in range(5000):  # 5 s at most
            if started.is_set() or job.done():
                break
            await asyncio.sleep(0.001)
        await batcher.close()
        job.cancel()
        return finished.is_set()

    assert asyncio.run(main()) is True


def test_a_model_without_class_names_is_served_with_its_own_labels(tmp_path):
    # models.load_served: class names come from the file when it has them and the label is
    # an index into them; otherwise each label is shown as itself (strings, or ints without
    # names), and a file without names still loads
    from sklearn.datasets import load_digits

    from pipelines import make
    from pipelines.model_files import save_model
    from pipelines.serve.models import load_served

    digits = load_digits()
    images = (digits.images[:200] * 16).astype(np.uint8)
    target = digits.target[:200]
    words = np.where(target % 2, "odd", "even")
    for labels, names, shown in (
        (target, None, [str(c) for c in range(10)]),
        (words, None, ["even", "odd"]),
        (target % 2, ["even", "odd"], ["even", "odd"]),
    ):
        model = make("pixels-softmax").fit(images, labels)
        path = save_model(model, tmp_path / "m.skops", class_names=names, input_shape=(8, 8))
        served = load_served("m", path)
        assert served.classes == shown
