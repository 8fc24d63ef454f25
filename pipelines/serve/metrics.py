"""Prometheus metrics of the service, and the ASGI middleware that counts requests and checks keys.

Metrics (``GET /metrics``, Prometheus text format):

``visionfeatures_requests_total{endpoint, method, status}``
    Requests by route template (``/v1/models/{name}/predict``) and HTTP status.
``visionfeatures_request_seconds{endpoint}``
    Request latency histogram, from the first byte of the request to the last of the answer.
``visionfeatures_images_total{model, outcome}``
    Images answered ("ok") or answered with an error of their own ("error").
``visionfeatures_batch_images{model}``
    Histogram of the number of images per batch run through a pipeline.
``visionfeatures_queue_images{model}``
    Images waiting for a batch (the queue depth).

With several worker processes (``--workers N``) the command sets ``PROMETHEUS_MULTIPROC_DIR``
and every worker writes its values there, so that a scrape of any worker reports the sum over
all of them.
"""

import hashlib
import hmac
import json
import os
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

CONTENT_TYPE = CONTENT_TYPE_LATEST  # of the Prometheus text format

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Metrics:
    """The service's Prometheus metrics, in a registry of their own (one per app)."""

    def __init__(self):
        self.registry = CollectorRegistry(auto_describe=True)
        self._children = {}
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        r = self.registry
        self.requests = Counter(
            "visionfeatures_requests",
            "HTTP requests by route and status.",
            ["endpoint", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "visionfeatures_request_seconds",
            "Time to answer a request, in seconds.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.images = Counter(
            "visionfeatures_images",
            "Images answered (outcome ok) or answered with an error of their own.",
            ["model", "outcome"],
            registry=r,
        )
        self.batch_images = Histogram(
            "visionfeatures_batch_images",
            "Images per batch run through a pipeline.",
            ["model"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.queue_images = Gauge(
            "visionfeatures_queue_images",
            "Images waiting for a batch.",
            ["model"],
            registry=r,
            multiprocess_mode="livesum",
        )

    def observe(self, endpoint, method, status, seconds):
        """Count one answered request and its latency."""
        key = (endpoint, method, status)
        children = self._children.get(key)
        if children is None:  # labels() takes a lock and builds a key each time: once only
            children = (
                self.requests.labels(endpoint, method, str(status)),
                self.latency.labels(endpoint),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def render(self):
        """The metrics in Prometheus text format (bytes)."""
        if not self.multiprocess:
            return generate_latest(self.registry)
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry)


def _digest(text):
    return hashlib.sha256(text.encode()).digest()


def _json(status, error, detail):
    body = json.dumps({"error": error, "detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return status, headers, body


class ServiceMiddleware:
    """Pure ASGI middleware: API key check, then request counting and timing.

    Parameters
    ----------
    app : ASGI app
    metrics : Metrics
    api_key : str or None
        When set, requests to paths outside ``open_paths`` need it, as
        ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``; keys are compared through their
        SHA-256 digests with :func:`hmac.compare_digest` (constant time, length included).
    open_paths : set of str
        Paths served without a key (health checks, the page, the API schema).
    """

    def __init__(self, app, *, metrics, api_key=None, open_paths=()):
        self.app = app
        self.metrics = metrics
        self.key_digest = None if api_key is None else _digest(api_key)
        self.open_paths = frozenset(open_paths)

    def _authorized(self, scope):
        given = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                if scheme.lower() == "bearer":
                    given = token.strip()
            elif name == b"x-api-key":
                given = value.decode("latin-1").strip()
        # compare even when no key was sent, so that the time does not tell
        return hmac.compare_digest(_digest(given or ""), self.key_digest) and bool(given)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        metrics = self.metrics
        status = 500

        async def send_and_record(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            if self.key_digest is not None and scope["path"] not in self.open_paths:
                if not self._authorized(scope):
                    status, headers, body = _json(
                        401,
                        "unauthorized",
                        "this server needs an API key: send 'Authorization: Bearer KEY' "
                        "or 'X-API-Key: KEY'",
                    )
                    headers.append((b"www-authenticate", b"Bearer"))
                    await send({"type": "http.response.start", "status": 401, "headers": headers})
                    await send({"type": "http.response.body", "body": body})
                    return
            await self.app(scope, receive, send_and_record)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "unmatched"
            metrics.observe(endpoint, scope["method"], status, time.perf_counter() - start)
