"""Benchmark of the service over loopback, against a naive and a null endpoint in the same run.

Trains a ``hog+color-svm`` pipeline on CIFAR-sized (32 x 32) JPEGs (synthetic ones by
default; ``--data`` takes a folder ``root/<class>/*.jpg`` such as CIFAR-10's), starts three
servers on 127.0.0.1, and drives them with bounded concurrent clients (threads, each with one
keep-alive connection; every run stops by itself after ``--seconds``):

* **ours**: ``scripts/serve.py MODEL`` (dynamic batching);
* **naive**: FastAPI on uvicorn, the route ``/v1/models/{name}/predict`` decoding the upload
  and calling ``pipeline.predict`` once per request (no batching);
* **null**: the same stack and route, reading the upload and answering a constant: what the
  framework itself costs on this machine.

Figures (the median of ``--repeats`` runs, with the machine's load average):

single   ``--clients`` clients each sending one image per request for ``--seconds``, as a raw
         ``image/jpeg`` body and as multipart: requests/s, p50 and p99 latency, errors, and
         answers that differ from the offline prediction of the same image.
bulk     requests of ``--bulk`` images (multipart): images/s of the server, against
         ``predict_files`` (what ``predict.py`` runs) in this process on the same files,
         decoding counted in both.
soak     ``--soak`` seconds of the single-image load: the server's resident memory after a
         warm-up and at the end.
frameworks  the null route on FastAPI and on plain Starlette, raw and multipart: the
         framework choice.

The clients use the standard library's ``http.client``: httpx (used by the tests) costs about
five times its CPU per request, and on loopback it writes a request in three system calls,
which Nagle's algorithm turns into milliseconds of waiting; either would measure the client.

Examples
--------
    python scripts/bench_serve.py                                  # synthetic JPEGs
    python scripts/bench_serve.py --data /work/cifar10/train       # CIFAR-10's JPEGs
    python scripts/bench_serve.py --only frameworks --seconds 10
"""

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ROUTE = "/v1/models/bench/predict"
BOUNDARY = "benchboundary7f3a"
CONSTANT = {"model": "bench", "predictions": [{"class": "x", "probabilities": None, "error": None}]}


# -- the naive and null endpoints (run with --app, in their own process) -----------------------
def naive_app(model_path):
    """FastAPI, one ``pipeline.predict`` per request, as a tutorial would write it."""
    from fastapi import FastAPI, File, Request, UploadFile

    from pipelines.datasets import decode_bytes
    from pipelines.model_files import load_model

    content = load_model(model_path)
    model, names, shape = content["model"], content["class_names"], content["input_shape"]
    app = FastAPI()

    def answer(blobs):
        images = np.stack([decode_bytes(b, size=tuple(shape[:2])) for b in blobs])
        labels = model.predict(images)
        entries = [{"class": names[int(c)], "probabilities": None, "error": None} for c in labels]
        return {"model": "bench", "predictions": entries}

    @app.post(ROUTE.replace("bench", "{name}") + "/raw")
    async def raw(name: str, request: Request):
        return answer([await request.body()])

    @app.post(ROUTE.replace("bench", "{name}"))
    async def form(name: str, images: list[UploadFile] = File(...)):  # noqa: B008
        return answer([await f.read() for f in images])

    return app


def null_fastapi_app():
    """FastAPI, the same routes: read the upload, answer a constant."""
    from fastapi import FastAPI, File, Request, UploadFile

    app = FastAPI()

    @app.post(ROUTE.replace("bench", "{name}") + "/raw")
    async def raw(name: str, request: Request):
        await request.body()
        return CONSTANT

    @app.post(ROUTE.replace("bench", "{name}"))
    async def form(name: str, images: list[UploadFile] = File(...)):  # noqa: B008
        for f in images:
            await f.read()
        return CONSTANT

    return app


def null_response_app():
    """FastAPI as the service uses it: the request object in, a ready JSON ``Response`` out."""
    from fastapi import FastAPI, Request
    from starlette.responses import Response

    from pipelines.serve.inputs import multipart_images

    app = FastAPI()
    body = json.dumps(CONSTANT).encode()

    @app.post(ROUTE.replace("bench", "{name}") + "/raw")
    async def raw(name: str, request: Request):
        await request.body()
        return Response(body, media_type="application/json")

    @app.post(ROUTE.replace("bench", "{name}"))
    async def form(name: str, request: Request):
        multipart_images(await request.body(), request.headers["content-type"], max_images=1024)
        return Response(body, media_type="application/json")

    return app


def null_starlette_app():
    """Plain Starlette, the same routes: read the upload, answer a constant."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def raw(request):
        await request.body()
        return JSONResponse(CONSTANT)

    async def form(request):
        async with request.form() as data:
            for f in data.getlist("images"):
                await f.read()
        return JSONResponse(CONSTANT)

    path = ROUTE.replace("bench", "{name}")
    return Starlette(
        routes=[Route(path + "/raw", raw, methods=["POST"]), Route(path, form, methods=["POST"])]
    )


def run_app(kind, model_path, port):
    import uvicorn

    apps = {
        "naive": lambda: naive_app(model_path),
        "null": null_fastapi_app,
        "null-response": null_response_app,
        "null-starlette": null_starlette_app,
    }
    uvicorn.run(apps[kind](), host="127.0.0.1", port=port, log_level="warning", access_log=False)
    return 0


# -- data and model -----------------------------------------------------------------------------
def synthetic_folder(root, per_class, seed=0):
    """Ten classes of 32 x 32 JPEGs: stripes of one of five colours, across or down."""
    import cv2

    rng = np.random.default_rng(seed)
    colours = [(200, 40, 40), (40, 200, 40), (40, 40, 200), (200, 200, 40), (40, 200, 200)]
    for label in range(10):
        folder = Path(root) / f"class{label}"
        folder.mkdir(parents=True, exist_ok=True)
        colour, across = colours[label % 5], label < 5
        for i in range(per_class):
            image = rng.integers(0, 90, (32, 32, 3)).astype(np.int32)
            period = int(rng.integers(5, 9))
            stripes = (np.arange(32) + int(rng.integers(0, period))) % period < period // 2
            mask = stripes[:, None] if across else stripes[None, :]
            image = np.where(mask[..., None], image + np.array(colour), image)
            image = np.clip(image, 0, 255).astype(np.uint8)
            cv2.imwrite(str(folder / f"{i:05d}.jpg"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return Path(root)


def prepare(args, work):
    """Train the model; return its path, the test files, their bytes and offline classes."""
    from pipelines import make
    from pipelines.datasets import decode_bytes, list_image_files
    from pipelines.model_files import save_model

    folder = Path(args.data) if args.data else synthetic_folder(work / "data", args.per_class + 60)
    paths, labels, class_names, _ = list_image_files(folder)
    rng = np.random.default_rng(0)
    train, test = [], []
    for label in range(len(class_names)):
        members = rng.permutation(np.flatnonzero(labels == label))
        train.extend(members[: args.per_class])
        test.extend(members[args.per_class : args.per_class + 60])
    decoded = [decode_bytes(Path(paths[i]).read_bytes(), size=(32, 32)) for i in train]
    start = time.perf_counter()
    model = make("hog+color-svm").fit(np.stack(decoded), labels[train])
    print(f"trained hog+color-svm on {len(train)} images in {time.perf_counter() - start:.1f} s")
    model_path = save_model(
        model, work / "bench.skops", class_names=class_names, input_shape=(32, 32, 3)
    )
    files = [paths[i] for i in test]
    blobs = [Path(p).read_bytes() for p in files]
    offline = model.predict(np.stack([decode_bytes(b, size=(32, 32)) for b in blobs]))
    return model_path, files, blobs, [class_names[int(c)] for c in offline]


# -- servers ----------------------------------------------------------------------------------
class Server:
    def __init__(self, name, argv, port, log):
        self.name, self.port = name, port
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)

    def wait(self, path, timeout=300):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} stopped (exit {self.process.returncode})")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", path)
                if connection.getresponse().status in (200, 404, 405):
                    return self
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"{self.name} did not start")

    def rss(self):
        """Resident memory of the server process, in MiB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu(self):
        """CPU seconds used so far by the server process and its worker processes."""
        return sum(_cpu_seconds(pid) for pid in [self.process.pid, *_children(self.process.pid)])

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


def _children(pid):
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _cpu_seconds(pid):
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_servers(kinds, model_path, log_dir, workers, serve_args=()):
    servers = {}
    for kind in kinds:
        port = free_port()
        log = open(Path(log_dir) / f"{kind}.log", "wb")
        if kind == "ours":
            argv = [sys.executable, str(ROOT / "scripts" / "serve.py"), f"bench={model_path}"]
            argv += ["--port", str(port), "--no-access-log", "-q"]
            argv += ["--workers", str(workers), *serve_args]
        else:
            argv = [sys.executable, __file__, "--app", kind, "--model", str(model_path)]
            argv += ["--port", str(port)]
        servers[kind] = Server(kind, argv, port, log)
    for kind, server in servers.items():
        server.wait("/health/ready" if kind == "ours" else "/docs")
    return servers


# -- clients ----------------------------------------------------------------------------------
def request_body(blob, route):
    if route == "raw":
        return blob, "image/jpeg"
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="images"; filename="a.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    return (
        head + blob + f"\r\n--{BOUNDARY}--\r\n".encode(),
        f"multipart/form-data; boundary={BOUNDARY}",
    )


def drive(server, kind, route, bodies, expected, clients, seconds):
    """``clients`` threads send single-image requests for ``seconds``; return the figures."""
    path = ROUTE if kind == "ours" or route == "multipart" else ROUTE + "/raw"
    port = server.port
    latencies = [[] for _ in range(clients)]
    errors, wrong = [0] * clients, [0] * clients
    cpu_before = server.cpu()
    start = time.perf_counter()
    deadline = start + seconds

    def client(k):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        i = k
        while time.perf_counter() < deadline:
            body, content_type = bodies[i % len(bodies)]
            tick = time.perf_counter()
            try:
                connection.request("POST", path, body=body, headers={"Content-Type": content_type})
                answer = connection.getresponse()
                data = answer.read()
            except OSError:
                errors[k] += 1
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                continue
            latencies[k].append(time.perf_counter() - tick)
            if answer.status != 200:
                errors[k] += 1
            else:
                got = json.loads(data)["predictions"][0]["class"]
                wrong[k] += kind != "null" and got != expected[i % len(bodies)]
            i += clients
        connection.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    cpu = server.cpu() - cpu_before
    flat = np.concatenate([np.asarray(x) for x in latencies])
    return {
        "rps": len(flat) / elapsed,
        "p50": 1000 * float(np.percentile(flat, 50)),
        "p99": 1000 * float(np.percentile(flat, 99)),
        "errors": sum(errors),
        "wrong": sum(wrong),
        "n": len(flat),
        "cpu_us": 1e6 * cpu / max(len(flat), 1),
    }


def load():
    return os.getloadavg()[0]


def median_runs(runs):
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def line(name, figures, extra=""):
    f = figures
    return (
        f"  {name:16s} {f['rps']:8.0f} req/s  p50 {f['p50']:7.1f} ms  p99 {f['p99']:7.1f} ms"
        f"  server CPU {f['cpu_us']:5.0f} us/request  errors {int(f['errors'])}"
        f"  wrong {int(f['wrong'])}  load {f['load']:.2f}{extra}"
    )


def single(servers, blobs, expected, args, kinds=("ours", "naive", "null")):
    results = {}
    for route in args.routes:
        bodies = [request_body(b, route) for b in blobs]
        runs = {kind: [] for kind in kinds}
        for _ in range(args.repeats):  # interleaved, so that a change of load hits all alike
            for kind in kinds:
                before = load()
                figures = drive(
                    servers[kind], kind, route, bodies, expected, args.clients, args.seconds
                )
                figures["load"] = (before + load()) / 2
                runs[kind].append(figures)
        print(
            f"\nsingle images, {route} body, {args.clients} clients x {args.seconds:g} s, "
            f"median of {args.repeats}:"
        )
        medians = {kind: median_runs(r) for kind, r in runs.items()}
        for kind in kinds:
            print(line(kind, medians[kind]))
        if {"ours", "naive", "null"} <= set(kinds):
            ours, naive, null = medians["ours"], medians["naive"], medians["null"]
            checks = [
                (
                    f"throughput {ours['rps'] / naive['rps']:.2f}x naive",
                    ours["rps"] >= 2 * naive["rps"],
                ),
                (f"{ours['rps'] / null['rps']:.2f}x null", ours["rps"] >= 0.8 * null["rps"]),
                (f"p99 {ours['p99'] / null['p99']:.2f}x null's", ours["p99"] <= 1.5 * null["p99"]),
                (
                    f"errors {int(sum(r['errors'] for r in runs['ours']))}",
                    sum(r["errors"] for r in runs["ours"]) == 0,
                ),
                (
                    f"wrong answers {int(sum(r['wrong'] for r in runs['ours']))}",
                    sum(r["wrong"] for r in runs["ours"]) == 0,
                ),
            ]
            print(
                "  targets: " + "; ".join(f"{t} [{'met' if ok else 'NOT met'}]" for t, ok in checks)
            )
        results[route] = medians
    return results


def bulk(server, files, blobs, model_path, args):
    from pipelines.model_files import load_model, predict_files

    n = args.bulk
    files, blobs = (files * (n // len(files) + 1))[:n], (blobs * (n // len(blobs) + 1))[:n]
    parts = []
    for blob in blobs:
        parts.append(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="images"; '
            f'filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'.encode()
            + blob
            + b"\r\n"
        )
    body = b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    content = load_model(model_path)
    served, local = [], []
    for _ in range(args.repeats):
        before = load()
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        tick = time.perf_counter()
        for _ in range(args.bulk_requests):
            connection.request("POST", ROUTE, body=body, headers=headers)
            answer = json.loads(connection.getresponse().read())
            assert len(answer["predictions"]) == n
        served.append((n * args.bulk_requests / (time.perf_counter() - tick), before))
        connection.close()
        tick = time.perf_counter()
        for _ in range(args.bulk_requests):
            rows = predict_files(content, files)
            assert len(rows) == n
        local.append(n * args.bulk_requests / (time.perf_counter() - tick))
    rate = statistics.median(s for s, _ in served)
    in_process = statistics.median(local)
    print(
        f"\n{n}-image requests (multipart), median of {args.repeats}: server {rate:.0f} images/s,"
        f" in-process predict_files {in_process:.0f} images/s: {rate / in_process:.2f}x "
        f"[{'met' if rate >= 0.5 * in_process else 'NOT met'}: >= 0.5x]  "
        f"load {statistics.median(b for _, b in served):.2f}"
    )


def soak(server, blobs, expected, args):
    bodies = [request_body(b, "raw") for b in blobs]
    drive(server, "ours", "raw", bodies, expected, args.clients, 5)  # allocations settle
    start = server.rss()
    samples = []
    done = threading.Event()

    def sample():
        while not done.wait(1.0):
            samples.append(server.rss())

    sampler = threading.Thread(target=sample)
    sampler.start()
    before = load()
    figures = drive(server, "ours", "raw", bodies, expected, args.clients, args.soak)
    done.set()
    sampler.join()
    end = server.rss()
    growth = (end - start) / start
    print(
        f"\nsoak, {args.soak:g} s of single-image requests: {figures['rps']:.0f} req/s, "
        f"errors {figures['errors']}, wrong {figures['wrong']}; RSS {start:.1f} MiB after "
        f"warm-up, {end:.1f} MiB at the end (peak {max(samples, default=end):.1f}): "
        f"{100 * growth:+.2f} % [{'met' if growth < 0.05 else 'NOT met'}: < 5 %]  "
        f"load {(before + load()) / 2:.2f}"
    )


def frameworks(servers, blobs, args):
    bodies = {route: [request_body(b, route) for b in blobs] for route in args.routes}
    print(
        f"\nframeworks: the null route, {args.clients} clients x {args.seconds:g} s, "
        f"median of {args.repeats}:"
    )
    for route in args.routes:
        runs = {"null": [], "null-response": [], "null-starlette": []}
        for _ in range(args.repeats):
            for kind in runs:
                before = load()
                figures = drive(
                    servers[kind], "null", route, bodies[route], [], args.clients, args.seconds
                )
                figures["load"] = (before + load()) / 2
                runs[kind].append(figures)
        for kind, r in runs.items():
            name = {
                "null": "FastAPI, dict",
                "null-response": "FastAPI, Response",
                "null-starlette": "Starlette",
            }[kind]
            print(line(f"{name} {route}", median_runs(r)))


def build_parser():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", metavar="FOLDER", help="root/<class>/*.jpg (default: synthetic)")
    parser.add_argument("--per-class", type=int, default=300, help="training images per class")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--routes", default="raw,multipart", type=lambda s: s.split(","))
    parser.add_argument("--bulk", type=int, default=256, help="images per bulk request")
    parser.add_argument("--bulk-requests", type=int, default=8)
    parser.add_argument("--soak", type=float, default=60.0, help="seconds of the soak")
    parser.add_argument("--workers", type=int, default=1, help="worker processes of ours")
    parser.add_argument(
        "--serve-args", default="", help="more options for ours, e.g. '--max-batch 32'"
    )
    parser.add_argument(
        "--only", default="single,bulk,soak,frameworks", type=lambda s: set(s.split(","))
    )
    parser.add_argument(
        "--app",
        choices=["naive", "null", "null-response", "null-starlette"],
        help=argparse.SUPPRESS,
    )
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.app:
        return run_app(args.app, args.model, args.port)
    if args.data and not Path(args.data).is_dir():
        print(f"bench_serve: {args.data!r} is not a folder", file=sys.stderr)
        return 1
    print(f"{os.cpu_count()} cores; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as work:
        work = Path(work)
        model_path, files, blobs, expected = prepare(args, work)
        kinds = ["ours"]
        if "single" in args.only:
            kinds += ["naive", "null"]
        if "frameworks" in args.only:
            kinds += [k for k in ("null", "null-response", "null-starlette") if k not in kinds]
        servers = start_servers(kinds, model_path, work, args.workers, args.serve_args.split())
        try:
            if "single" in args.only:
                single(servers, blobs, expected, args)
            if "bulk" in args.only:
                bulk(servers["ours"], files, blobs, model_path, args)
            if "soak" in args.only:
                soak(servers["ours"], blobs, expected, args)
            if "frameworks" in args.only:
                frameworks(servers, blobs, args)
        finally:
            for server in servers.values():
                server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
