"""The ASGI app: ``create_app(models, settings)`` builds it; uvicorn runs it.

Each request: check the model and the content type → read the body within ``max_body`` →
split it into images (at most ``max_images``) → hand them to the model's micro-batcher, which
decodes them through the library's one decode path and runs them through the pipeline with
the images of other requests, in a worker thread → answer in request order. An image that
cannot be read gets its own error inside a 200; a request that cannot be served gets
``{"error", "detail"}`` with its HTTP status.

The app keeps no state between requests: any number of processes or machines can serve the
same model files.
"""

import asyncio
import io
import json
import logging
import os
import sys
import time
from contextlib import asynccontextmanager
from functools import partial
from importlib import resources

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import HTMLResponse, Response

from . import oip
from .batching import MicroBatcher
from .inputs import ApiError, ClientGone, check_content_type, image_payloads, read_body
from .metrics import CONTENT_TYPE, Metrics, ServiceMiddleware
from .models import ImageError
from .responses import documented_errors, error_response, json_response, version
from .settings import Settings

logger = logging.getLogger(__name__)

NPY = "application/x-npy"
SWITCH_INTERVAL = 0.0005  # seconds: see Service.start
OPEN_PATHS = (
    "/",
    "/health/live",
    "/health/ready",
    "/v2/health/live",
    "/v2/health/ready",
    "/docs",
    "/docs/oauth2-redirect",
    "/openapi.json",
    "/favicon.ico",
)
_IMAGE_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "images": {"type": "array", "items": {"type": "string", "format": "binary"}}
                },
                "required": ["images"],
            }
        },
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "images": {"type": "array", "items": {"type": "string", "format": "byte"}}
                },
                "required": ["images"],
            }
        },
        "image/*": {"schema": {"type": "string", "format": "binary"}},
    },
}
_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
_TOP_K = {
    "name": "top_k",
    "in": "query",
    "required": False,
    "description": "how many classes to list, the most likely first (default: all)",
    "schema": {"type": "integer", "minimum": 1},
}
# what a route that reads images can answer besides 200 (the API key's 401 on every route
# but OPEN_PATHS)
_IMAGE_ERRORS = documented_errors(400, 401, 404, 413, 415, 422)


class Service:
    """What the routes share: the models, their batchers, the settings, the metrics."""

    def __init__(self, models, settings, metrics):
        self.models = dict(models)
        self.settings = settings
        self.metrics = metrics
        self.batchers = {}
        self.ready = False
        self.warm_error = None

    def model(self, name):
        """The model called ``name``, or a 404."""
        try:
            return self.models[name]
        except KeyError:
            known = ", ".join(self.models) or "none"
            raise ApiError(
                404, "unknown model", f"no model is named {name!r}; models: {known}"
            ) from None

    async def start(self):
        """Start a batcher per model, and warm every model up in the background."""
        settings = self.settings
        # The event loop and the batchers' worker threads share the GIL, which CPython hands
        # over every 5 ms by default: each time the loop wakes up while a worker runs Python
        # code (scikit-learn's checks, Pillow's header parser), it could wait that long. At
        # 0.5 ms the loop gets it back sooner: about a quarter more requests/s, measured.
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL)
        for name, model in self.models.items():
            self.batchers[name] = MicroBatcher(
                partial(model.run_batch, max_pixels=settings.max_pixels),
                max_batch=settings.max_batch,
                max_wait=settings.max_wait_ms / 1000,
                name=name,
                on_batch=self.metrics.batch_images.labels(name).observe,
                on_queue=self.metrics.queue_images.labels(name).set,
            )
            self.batchers[name].start()
        self._warming = asyncio.get_running_loop().create_task(self._warm_up())

    async def _warm_up(self):
        start = time.perf_counter()
        try:
            for name, model in self.models.items():
                await self.batchers[name].call(model.warm_up, self.settings.max_pixels)
        except Exception as exc:
            self.warm_error = f"{type(exc).__name__}: {exc}"
            logger.error("warm-up failed, the server stays not ready: %s", self.warm_error)
            return
        self.ready = True
        logger.info(
            "ready: %d model(s) loaded and warmed up in %.1f s (pid %d)",
            len(self.models),
            time.perf_counter() - start,
            os.getpid(),
        )

    async def stop(self):
        """Stop the batchers (uvicorn has already let the requests in flight finish)."""
        self._warming.cancel()
        for batcher in self.batchers.values():
            await batcher.close()
        sys.setswitchinterval(self._switch_interval)

    async def run(self, model, payloads, op):
        """The outputs for ``payloads`` (bytes, pixel arrays or ImageError), in order."""
        outputs = list(payloads)
        todo = [i for i, p in enumerate(payloads) if not isinstance(p, ImageError)]
        if todo:
            answers = await self.batchers[model.name].submit([(payloads[i], op) for i in todo])
            for i, answer in zip(todo, answers):
                outputs[i] = answer
        n_errors = sum(isinstance(o, ImageError) for o in outputs)
        images = self.metrics.images
        if n_errors:
            images.labels(model.name, "error").inc(n_errors)
        if len(outputs) > n_errors:
            images.labels(model.name, "ok").inc(len(outputs) - n_errors)
        return outputs

    async def request_images(self, request):
        """Check the content type, read the body, and split it into images."""
        content_type = request.headers.get("content-type", "")
        check_content_type(content_type)  # before reading a body that would be refused
        body = await read_body(request, self.settings.max_body)
        return image_payloads(body, content_type, max_images=self.settings.max_images)


def _top_k(text):
    """The ``top_k`` query parameter: None, or an int >= 1 (else a 422)."""
    if text is None:
        return None
    if not text.isdigit() or int(text) < 1:
        raise ApiError(422, "invalid request", f"top_k must be an integer >= 1; got {text!r}")
    return int(text)


def predictions_json(model, outputs, top_k):
    """The ``predictions`` list of a predict answer."""
    classes = model.classes
    k = len(classes) if top_k is None else min(top_k, len(classes))
    entries = []
    for output in outputs:
        if isinstance(output, ImageError):
            entries.append({"class": None, "probabilities": None, "error": output.reason})
            continue
        probabilities = None
        if output.probabilities is not None:
            row = output.probabilities
            order = np.argsort(-row, kind="stable")[:k]
            probabilities = [{"class": classes[j], "probability": float(row[j])} for j in order]
        entries.append({"class": output.label, "probabilities": probabilities, "error": None})
    return entries


def create_app(models, settings=None):
    """Build the service's ASGI app.

    Parameters
    ----------
    models : mapping of str to ServedModel
        The models to serve, by name (see :func:`pipelines.serve.models.load_models`).
    settings : Settings or None
        Limits and batching; None for the defaults.

    Returns
    -------
    app : fastapi.FastAPI
        Models are warmed up when the app starts (its lifespan); ``/health/ready`` answers
        200 from then on.

    Examples
    --------
    >>> from pipelines.serve.app import create_app
    >>> from pipelines.serve.models import load_models
    >>> app = create_app(load_models(["digits.skops"]))  # doctest: +SKIP
    >>> import uvicorn; uvicorn.run(app, host="127.0.0.1", port=8000)  # doctest: +SKIP
    """
    settings = Settings() if settings is None else settings
    metrics = Metrics()
    service = Service(models, settings, metrics)

    @asynccontextmanager
    async def lifespan(app):
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(
        title="visionfeatures",
        version=version(),
        description=(
            "Classical computer-vision pipelines over HTTP: classes and features of images, "
            "decoded exactly as for training, batched across concurrent requests. Errors are "
            '`{"error", "detail"}`; an image that cannot be read gets its own `error` inside '
            "a 200."
        ),
        lifespan=lifespan,
        redoc_url=None,
    )
    app.state.service = service
    app.add_middleware(
        ServiceMiddleware,
        metrics=metrics,
        api_key=settings.api_key,
        open_paths=OPEN_PATHS,
    )

    @app.exception_handler(ApiError)
    async def on_api_error(request, exc):
        return error_response(exc.status, exc.error, exc.detail, exc.headers)

    @app.exception_handler(ClientGone)
    async def on_client_gone(request, exc):
        return Response(status_code=499)  # nginx's "client closed request"; nobody reads it

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request, exc):
        problems = [
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg')}"
            for e in exc.errors()
        ]
        return error_response(422, "invalid request", "; ".join(problems))

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request, exc):
        short = {404: "not found", 405: "method not allowed"}.get(exc.status_code, "error")
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404:
            detail = f"no endpoint at {request.url.path}; see /docs"
        return error_response(exc.status_code, short, detail, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def on_crash(request, exc):
        logger.exception("error answering %s %s", request.method, request.url.path)
        return error_response(500, "internal error", f"{type(exc).__name__}: {exc}")

    # -- images: first, as nearly every request is for them and routes are tried in order --
    @app.post(
        "/v1/models/{name}/predict",
        tags=["inference"],
        summary="Classes of one or many images",
        description=(
            'Images as multipart files (field `images`), as JSON `{"images": [base64, ...]}`, '
            "or one image as the raw body with its image content type. One prediction per "
            "image, in request order: `class`, `probabilities` (the `top_k` most likely, "
            "all by default; null for classifiers without probabilities, such as linear "
            "SVMs) and `error` (why an image could not be read, else null)."
        ),
        openapi_extra={"requestBody": _IMAGE_BODY, "parameters": [_NAME, _TOP_K]},
        responses=_IMAGE_ERRORS,
    )
    async def predict(request: Request):
        # The endpoints of images take the bare request (the name from the path, top_k read
        # here): FastAPI's validation of declared parameters costs as much per request as the
        # rest of the framework; the parameters are documented through openapi_extra.
        name = request.path_params["name"]
        top_k = _top_k(request.query_params.get("top_k"))
        model = service.model(name)
        if model.kind != "classifier":
            raise ApiError(
                400,
                "not a classifier",
                f"model {name!r} is an extractor: it has features, not classes; "
                f"POST /v1/models/{name}/features",
            )
        payloads = await service.request_images(request)
        outputs = await service.run(model, payloads, "predict")
        return json_response(
            {"model": name, "predictions": predictions_json(model, outputs, top_k)}
        )

    @app.post(
        "/v1/models/{name}/features",
        tags=["inference"],
        summary="Feature rows of one or many images",
        description=(
            "The rows of an extractor model, or of the `features` step of a classifier "
            "pipeline: float32, the same bytes as `extract_features.py` writes. JSON "
            '`{"features": [row or null], "errors": [null or reason]}` by default; with '
            "`Accept: application/x-npy`, an .npy file of shape (n, n_features), whose rows "
            "of unreadable images are NaN and listed in the `X-Failed-Images` header."
        ),
        openapi_extra={"requestBody": _IMAGE_BODY, "parameters": [_NAME]},
        responses={**_IMAGE_ERRORS, 200: {"content": {"application/json": {}, NPY: {}}}},
    )
    async def features(request: Request):
        name = request.path_params["name"]
        model = service.model(name)
        payloads = await service.request_images(request)
        outputs = await service.run(model, payloads, "features")
        if NPY in request.headers.get("accept", ""):
            rows = np.full((len(outputs), model.n_features), np.nan, dtype=np.float32)
            failed = []
            for i, output in enumerate(outputs):
                if isinstance(output, ImageError):
                    failed.append(str(i))
                else:
                    rows[i] = output
            buffer = io.BytesIO()
            np.save(buffer, rows, allow_pickle=False)
            headers = {"X-Failed-Images": ",".join(failed)} if failed else None
            return Response(buffer.getvalue(), media_type=NPY, headers=headers)
        return json_response(
            {
                "model": name,
                "n_features": model.n_features,
                "features": [None if isinstance(o, ImageError) else o.tolist() for o in outputs],
                "errors": [o.reason if isinstance(o, ImageError) else None for o in outputs],
            }
        )

    # the protocol's inference route next: routes are tried in the order they were added
    oip.add_routes(app, service)

    @app.post(
        "/v1/models/{name}/hog",
        tags=["inference"],
        summary="The HOG glyph picture of one image (PNG)",
        description=(
            "For a model with a HOG step: the image as the HOG sees it (decoded as for "
            "training, resized to the HOG's size) drawn as scikit-image's glyphs, one star "
            "of orientation strengths per cell."
        ),
        openapi_extra={"requestBody": _IMAGE_BODY, "parameters": [_NAME]},
        responses={**_IMAGE_ERRORS, 200: {"content": {"image/png": {}}}},
    )
    async def hog(request: Request):
        name = request.path_params["name"]
        model = service.model(name)
        if model.hog() is None:
            raise ApiError(400, "no HOG step", f"model {name!r} computes no HOG features")
        payloads = await service.request_images(request)
        if len(payloads) != 1:
            raise ApiError(422, "one image", f"send one image; got {len(payloads)}")
        if isinstance(payloads[0], ImageError):
            raise ApiError(422, "not an image", payloads[0].reason)
        picture = await service.batchers[name].call(
            model.hog_picture, payloads[0], service.settings.max_pixels
        )
        if isinstance(picture, ImageError):
            raise ApiError(422, "not an image", picture.reason)
        return Response(picture, media_type="image/png")

    # -- health and models -------------------------------------------------------------------
    @app.get("/health/live", tags=["health"], summary="The process answers")
    async def live():
        return json_response({"status": "live", "pid": os.getpid()})

    @app.get(
        "/health/ready",
        tags=["health"],
        summary="Every model is loaded and warmed up (else 503)",
        responses=documented_errors(503),
    )
    async def ready():
        if service.ready:
            return json_response({"status": "ready", "models": list(service.models)})
        detail = service.warm_error or "the models are warming up"
        return error_response(503, "not ready", detail)

    @app.get(
        "/v1/models",
        tags=["models"],
        summary="The models served",
        responses=documented_errors(401),
    )
    async def list_models():
        return json_response({"models": [m.summary() for m in service.models.values()]})

    @app.get(
        "/v1/models/{name}",
        tags=["models"],
        summary="A model: steps, input, classes",
        responses=documented_errors(401, 404),
    )
    async def describe_model(name: str):
        return json_response(service.model(name).description())

    # -- metrics, page -----------------------------------------------------------------------
    @app.get(
        "/metrics",
        tags=["service"],
        summary="Prometheus metrics",
        responses=documented_errors(401),
    )
    async def prometheus():
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    page = resources.files(__package__).joinpath("static/index.html").read_text()

    @app.get("/", include_in_schema=False)
    async def index():
        return HTMLResponse(page)

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon():
        return Response(status_code=204)

    return app


def create_app_from_environment():
    """The app of one worker process of ``visionfeatures serve --workers N``.

    uvicorn starts each worker by importing this factory; the command passes the model files
    and settings in the environment variable ``VISIONFEATURES_SERVE`` (JSON: ``models``
    [name, path] pairs, ``trusted`` types, ``settings``, and ``api_key_file``, read here so
    that the key itself is never in the environment).
    """
    from .models import load_served

    config = json.loads(os.environ["VISIONFEATURES_SERVE"])
    settings = dict(config["settings"])
    if config.get("api_key_file"):
        with open(config["api_key_file"]) as f:
            settings["api_key"] = f.read().strip()
    models = {
        name: load_served(
            name, path, trusted=config.get("trusted", ()), max_pixels=settings["max_pixels"]
        )
        for name, path in config["models"]
    }
    return create_app(models, Settings(**settings))
