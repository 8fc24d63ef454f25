"""Reading requests: the body within its limit, and the images it holds, in request order.

Three ways to send images to ``/v1/models/{name}/predict`` and ``/features``:

* ``multipart/form-data``, each image a part named ``images`` (other parts are ignored);
* ``application/json``, ``{"images": ["<base64>", ...]}`` (a ``data:...;base64,`` prefix is
  allowed, so that a browser's data URLs can be sent as they are);
* one image as the whole body, with its ``image/...`` content type.

Problems with the request as a whole raise :class:`ApiError` with the HTTP status that fits;
an image that cannot be read is not such a problem: it is answered with its own error.
"""

import base64
import binascii
import json

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from .models import ImageError

FORMS = (
    "multipart/form-data with each image in a part named 'images', application/json "
    '{"images": ["<base64>", ...]}, or one image as the body with its image/* content type'
)


class ApiError(Exception):
    """A request the service refuses: HTTP ``status``, a short ``error`` and a ``detail``."""

    def __init__(self, status, error, detail, headers=None):
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = headers or {}


class ClientGone(Exception):
    """The client closed the connection before its request body was complete."""


async def read_body(request, limit):
    """The request body, refused with 413 as soon as it is known to exceed ``limit`` bytes.

    A declared ``Content-Length`` over the limit is refused before anything is read; a body
    sent in chunks is counted as it arrives.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(size, limit, at_least=True)
            chunks.append(chunk)
    except ClientDisconnect:
        raise ClientGone() from None
    return b"".join(chunks)


def _too_large(size, limit, at_least=False):
    return ApiError(
        413,
        "request body too large",
        f"the body is {'over ' if at_least else ''}{size} bytes; the limit is {limit} bytes "
        "(--max-body)",
    )


def too_many_images(count, limit, at_least=False):
    """The 413 error of a request holding more than ``limit`` images."""
    return ApiError(
        413,
        "too many images",
        f"the request holds {'more than ' + str(limit) if at_least else count} images; the "
        f"limit is {limit} per request (--max-images)",
    )


def no_image(detail=None):
    """The 422 error of a request that holds no image."""
    return ApiError(422, "no image", detail or f"the request holds no image; send {FORMS}")


def check_content_type(content_type):
    """Raise a 415 unless ``content_type`` is one that holds images; return its media type."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media in ("multipart/form-data", "application/json") or media.endswith("+json"):
        return media
    if media.startswith("image/"):
        return media
    raise ApiError(
        415,
        "unsupported content type",
        f"content type {media or '(none)'!r} holds no images; send {FORMS}",
    )


def image_payloads(body, content_type, *, max_images):
    """The images of a request body, in order: bytes, or :class:`ImageError` (bad base64).

    Parameters
    ----------
    body : bytes
        The whole request body.
    content_type : str
        The ``Content-Type`` header, with its parameters.
    max_images : int
        Most images allowed (413 beyond).

    Returns
    -------
    payloads : list of bytes or ImageError

    Raises
    ------
    ApiError
        415 for a content type that holds no images, 400 for a malformed body, 413 for too
        many images, 422 for no image.
    """
    media = check_content_type(content_type)
    if media == "multipart/form-data":
        payloads = multipart_images(body, content_type, max_images=max_images)
    elif media.startswith("image/"):
        if not body:
            raise no_image(f"the body is empty; send {FORMS}")
        payloads = [body]
    else:
        payloads = json_images(body, max_images=max_images)
    if not payloads:
        raise no_image()
    return payloads


def multipart_images(body, content_type, *, max_images, field="images"):
    """The parts named ``field`` of a multipart/form-data body, as bytes, in order."""
    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise ApiError(400, "malformed multipart body", "the Content-Type has no boundary")
    parts, state = [], {"name": None, "chunks": [], "header": b"", "value": b"", "end": False}

    def on_header_field(data, start, end):
        state["header"] += data[start:end]

    def on_header_value(data, start, end):
        state["value"] += data[start:end]

    def on_header_end():
        if state["header"].lower() == b"content-disposition":
            state["name"] = parse_options_header(state["value"])[1].get(b"name")
        state["header"], state["value"] = b"", b""

    def on_part_begin():
        state["name"], state["chunks"] = None, []

    def on_part_data(data, start, end):
        if state["name"] == field.encode():
            state["chunks"].append(data[start:end])

    def on_part_end():
        if state["name"] == field.encode():
            if len(parts) == max_images:
                raise too_many_images(0, max_images, at_least=True)
            parts.append(b"".join(state["chunks"]))

    def on_end():
        state["end"] = True

    callbacks = {
        "on_header_field": on_header_field,
        "on_header_value": on_header_value,
        "on_header_end": on_header_end,
        "on_part_begin": on_part_begin,
        "on_part_data": on_part_data,
        "on_part_end": on_part_end,
        "on_end": on_end,
    }
    try:
        parser = MultipartParser(boundary, callbacks)
        parser.write(body)
        parser.finalize()
    except ApiError:
        raise
    except Exception as exc:  # python-multipart's parse errors
        raise ApiError(400, "malformed multipart body", str(exc) or type(exc).__name__) from None
    if not state["end"]:
        raise ApiError(400, "malformed multipart body", "the body ends before its last boundary")
    return parts


def json_images(body, *, max_images):
    """The base64 images of a JSON body ``{"images": [...]}``, decoded, in order."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "malformed JSON body", str(exc)) from None
    images = document.get("images") if isinstance(document, dict) else None
    if not isinstance(images, list) or not all(isinstance(s, str) for s in images):
        raise ApiError(
            422,
            "no image",
            'a JSON body must be {"images": ["<base64>", ...]}, a list of base64 strings',
        )
    if len(images) > max_images:
        raise too_many_images(len(images), max_images)
    return [decode_base64(text) for text in images]


def decode_base64(text):
    """Bytes of a base64 string (or a ``data:`` URL); an :class:`ImageError` if malformed."""
    if text.startswith("data:"):
        text = text.partition(",")[2]
    for attempt in (text, "".join(text.split())):  # as sent, then without line breaks
        try:
            return base64.b64decode(attempt, validate=True)
        except (binascii.Error, ValueError):
            continue
    return ImageError("not valid base64")
