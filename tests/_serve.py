"""What the service's tests share: tiny models on synthetic images, and real servers to run.

Servers are real: uvicorn on 127.0.0.1 on a free port, either in a thread of the test process
(:class:`ThreadServer`, for tests of the app) or as the command ``scripts/serve.py`` in a
subprocess (:class:`ProcessServer`, for tests of the command: signals, worker processes,
refusals). Every wait is bounded.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import httpx
import numpy as np
import uvicorn

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ("bars", "stripes")  # folder names, sorted: label 0 is "bars"
START_TIMEOUT = 180  # seconds; generous, the machine may be shared


# -- images -----------------------------------------------------------------------------------
def synthetic_image(label, rng, shape=(32, 32)):
    """A noisy RGB image: red horizontal stripes (label 1) or blue vertical bars (label 0)."""
    rows, cols = shape
    image = rng.integers(0, 70, (rows, cols, 3)).astype(np.uint8)
    offset = int(rng.integers(0, 4))
    if label == 1:
        image[(np.arange(rows) + offset) % 8 < 4, :, 0] += 170
    else:
        image[:, (np.arange(cols) + offset) % 8 < 4, 2] += 170
    return image


def encode(image, ext=".jpg"):
    """Encoded bytes of an RGB (or grey) uint8 image."""
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    ok, data = cv2.imencode(ext, bgr)
    assert ok
    return data.tobytes()


def write_image_folder(root, n_per_class=16, seed=0):
    """``root/<class>/<i>.jpg``: a labelled folder of synthetic 32 x 32 JPEGs."""
    rng = np.random.default_rng(seed)
    for label, name in enumerate(CLASSES):
        folder = Path(root) / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            (folder / f"{i:02d}.jpg").write_bytes(encode(synthetic_image(label, rng)))
    return Path(root)


def png_header_only(rows, cols):
    """A PNG whose header declares rows x cols pixels, followed by almost no pixel data.

    Its pixels cannot be decoded; a refusal for its size shows that the size was read from
    the header, before any decoding (a decompression bomb costs nothing).
    """
    import struct
    import zlib

    def chunk(kind, payload):
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", cols, rows, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


# -- servers ----------------------------------------------------------------------------------
def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url, *, timeout=START_TIMEOUT, alive=lambda: True, headers=None):
    """Poll ``url/health/ready`` until it answers 200; raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"the server at {url} stopped before it was ready")
        try:
            if httpx.get(f"{url}/health/ready", timeout=5, headers=headers).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"the server at {url} was not ready after {timeout} s")


class ThreadServer:
    """uvicorn serving ``app`` in a thread of this process, on a socket bound here."""

    def __init__(self, app):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self):
        self.thread.start()
        wait_ready(self.url, alive=self.thread.is_alive)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=60)
        self.sock.close()


class ProcessServer:
    """``scripts/serve.py ARGS --port P`` in a subprocess; its output goes to a log file."""

    def __init__(self, args, log_path, *, env=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(log_path)
        self.args = [
            sys.executable,
            str(ROOT / "scripts" / "serve.py"),
            *map(str, args),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        self.process = None

    def start(self, *, wait=True, headers=None):
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.args, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=ROOT
            )
        if wait:
            try:
                wait_ready(self.url, alive=lambda: self.process.poll() is None, headers=headers)
            except Exception:
                self.stop()
                raise RuntimeError(f"server did not start:\n{self.log()}") from None
        return self

    def log(self):
        return self.log_path.read_text(errors="replace")

    def terminate(self, timeout=120):
        """SIGTERM, then wait for the exit; return the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def metric(text, name, **labels):
    """The value of one sample of Prometheus text; 0.0 when it is absent."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        key, value = line.rsplit(" ", 1)
        sample, _, label_text = key.partition("{")
        if sample != name:
            continue
        found = ",".join(sorted(label_text.rstrip("}").split(","))) if label_text else ""
        if found == want:
            return float(value)
    return 0.0


# -- models without a file --------------------------------------------------------------------
def served_model(
    input_shape, *, name="m", kind="classifier", model=None, features=None, head=None, classes=()
):
    """A :class:`ServedModel` built in memory, for the parts of the service that need one."""
    from pipelines.serve.models import ServedModel

    return ServedModel(
        name=name,
        path=f"{name}.skops",
        sha256="",
        kind=kind,
        model=model,
        features=features,
        head=head,
        input_shape=input_shape,
        classes=list(classes),
        file_library={},
    )
