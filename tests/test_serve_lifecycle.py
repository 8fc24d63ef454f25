"""The command ``serve``: refusals at start, SIGTERM during a burst, worker processes.

The servers here are the command itself (``scripts/serve.py``) in a subprocess, as a user
or an orchestrator starts it.
"""

import re
import socket
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from pipelines import make
from pipelines.datasets import decode_bytes, load_image_folder
from pipelines.model_files import save_model
from scripts import serve as serve_script

from ._serve import CLASSES, ProcessServer, encode, metric, synthetic_image, write_image_folder


class Foreign:
    """A type that no model file of the library holds."""

    def __init__(self, value=1):
        self.value = value


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A small colour classifier with probabilities, its path, and its fitted pipeline."""
    root = tmp_path_factory.mktemp("lifecycle")
    data = load_image_folder(write_image_folder(root / "train", n_per_class=12))
    fitted = make("hog-softmax").fit(data.images, data.labels)
    path = save_model(fitted, root / "shapes.skops", class_names=CLASSES, input_shape=(32, 32, 3))
    return path, fitted


def _images(n, seed):
    rng = np.random.default_rng(seed)
    return [encode(synthetic_image(i % 2, rng)) for i in range(n)]


def _expected(fitted, images):
    batch = np.stack([decode_bytes(b, size=(32, 32)) for b in images])
    return [CLASSES[c] for c in fitted.predict(batch)]


# -- refusals at start ----------------------------------------------------------------------
def test_bad_model_files_stop_the_start_with_one_line(model, tmp_path, capsys):
    path, _ = model
    corrupt = tmp_path / "corrupt.skops"
    corrupt.write_bytes(path.read_bytes()[:2000])  # cut short in a copy
    type_name = f"{__name__}.Foreign"
    foreign = save_model(
        {"x": Foreign()}, tmp_path / "foreign.skops", input_shape=(8, 8), trusted=[type_name]
    )
    cases = [
        ([str(tmp_path / "missing.skops")], f"'{tmp_path / 'missing.skops'}' does not exist"),
        ([str(corrupt)], f"Cannot load model file '{corrupt}': it is a damaged zip archive"),
        (
            [str(path), str(foreign)],
            f"Refusing to load '{foreign}': it holds types that are not trusted: {type_name}.",
        ),
        (
            [str(foreign), "--trust", type_name],
            f"'{foreign}' holds a dict, which is not an estimator",
        ),
        ([str(tmp_path / "train")], f"'{tmp_path / 'train'}' holds no .skops file"),
        ([str(path), f"shapes={path}"], "Two models are named 'shapes'"),
        ([str(path), "--max-pixels", "32"], "has an input_shape over the pixel limit: size"),
    ]
    (tmp_path / "train").mkdir()
    for argv, fragment in cases:
        assert serve_script.main(argv) == 1, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("serve.py: "), err
        assert fragment in err, err


def test_the_console_command_has_serve(tmp_path, capsys):
    from pipelines import cli
    from pipelines.cli import serve as serve_command

    assert cli.COMMANDS["serve"] is serve_command
    assert cli.main(["serve", str(tmp_path / "none.skops")]) == 1
    err = capsys.readouterr().err
    missing = tmp_path / "none.skops"
    assert err == f"visionfeatures serve: Model file '{missing}' does not exist or is not a file.\n"


def test_bad_options_are_usage_errors(model, tmp_path, capsys):
    path, _ = model
    for option in (["--max-body", "12XB"], ["--max-pixels", "big"], ["--max-batch", "0"]):
        with pytest.raises(SystemExit) as stop:
            serve_script.main([str(path), *option])
        assert stop.value.code == 2
        assert option[0] in capsys.readouterr().err
    (tmp_path / "key").write_text("\n")
    assert serve_script.main([str(path), "--api-key-file", str(tmp_path / "key")]) == 2
    assert "is empty" in capsys.readouterr().err


# -- SIGTERM ----------------------------------------------------------------------------------
def test_sigterm_during_a_burst_answers_every_request_in_flight(model, tmp_path):
    path, fitted = model
    # a long batching wait keeps the burst in flight, queued for one batch
    server = ProcessServer(
        [path, "--max-batch", "1024", "--max-wait-ms", "6000", "--no-access-log"],
        tmp_path / "server.log",
    ).start()
    images = _images(24, seed=1)
    expected = _expected(fitted, images)
    results = [None] * len(images)

    def send(i):
        try:
            answer = httpx.post(
                f"{server.url}/v1/models/shapes/predict",
                content=images[i],
                headers={"Content-Type": "image/jpeg"},
                timeout=120,
            )
            results[i] = (answer.status_code, answer.json()["predictions"][0]["class"])
        except Exception as exc:  # a failed request is what this test looks for
            results[i] = ("failed", repr(exc))

    try:
        # one more client is half way through its upload when the signal comes
        slow_image = _images(1, seed=2)[0]
        slow = socket.create_connection(("127.0.0.1", server.port))
        head = (
            "POST /v1/models/shapes/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
            f"Content-Length: {len(slow_image)}\r\nConnection: close\r\n\r\n"
        )
        slow.sendall(head.encode() + slow_image[:100])
        threads = [threading.Thread(target=send, args=(i,)) for i in range(len(images))]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while True:  # every image of the burst waits in the queue: all are in flight
            text = httpx.get(f"{server.url}/metrics", timeout=10).text
            if metric(text, "visionfeatures_queue_images", model="shapes") == len(images):
                break
            assert time.monotonic() < deadline, "the burst never reached the queue"
            time.sleep(0.05)
        server.process.send_signal(15)  # SIGTERM
        time.sleep(0.5)
        slow.sendall(slow_image[100:])
        reply = b""
        while chunk := slow.recv(65536):
            reply += chunk
        slow.close()
        for thread in threads:
            thread.join(timeout=120)
        code = server.process.wait(timeout=120)
    finally:
        server.stop()
    assert results == [(200, c) for c in expected]
    status, _, body = reply.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 200")
    assert _expected(fitted, [slow_image])[0] in body.decode()
    assert code == 0, server.log()
    with pytest.raises(httpx.TransportError):  # and it no longer listens
        httpx.get(f"{server.url}/health/live", timeout=5)


# -- several processes on one port -------------------------------------------------------------
def test_workers_share_the_port_and_the_metrics(model, tmp_path):
    path, fitted = model
    server = ProcessServer([path, "--workers", "2", "--no-access-log"], tmp_path / "w.log")
    with server:
        children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
        deadline = time.monotonic() + 120
        pids = set()
        while len(pids) < 2 and time.monotonic() < deadline:  # a new connection each time
            pids.add(httpx.get(f"{server.url}/health/live", timeout=10).json()["pid"])
        assert len(pids) == 2, server.log()
        if children.exists():
            assert {int(p) for p in children.read_text().split()} >= pids
        images = _images(10, seed=3)
        expected = _expected(fitted, images)
        for image, want in zip(images, expected):
            answer = httpx.post(
                f"{server.url}/v1/models/shapes/predict",
                content=image,
                headers={"Content-Type": "image/jpeg"},
                timeout=60,
            )
            assert answer.json()["predictions"][0]["class"] == want
        # each worker counts in the shared folder: a scrape of either reports the sum (the
        # warm-up's images are not counted)
        text = httpx.get(f"{server.url}/metrics", timeout=10).text
        assert metric(text, "visionfeatures_images_total", model="shapes", outcome="ok") == 10
        assert server.terminate() == 0
    assert re.search(r"Started parent process \[\d+\]", server.log())
