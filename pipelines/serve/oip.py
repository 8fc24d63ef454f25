"""The Open Inference Protocol (KServe's "V2" protocol, also Triton's and MLServer's), over REST.

Routes: ``GET /v2`` (server metadata), ``/v2/health/live``, ``/v2/health/ready``,
``/v2/models/{name}`` (model metadata), ``/v2/models/{name}/ready`` and
``POST /v2/models/{name}/infer``.

An inference request holds one input tensor, either

* ``UINT8`` of shape ``[n, rows, cols, 3]`` (RGB; ``[n, rows, cols]`` or
  ``[n, rows, cols, 1]`` for a grey model): pixels, resized to the model's size by the
  library's resize rule when they have another size; or
* ``BYTES`` of shape ``[n]``: encoded images (PNG, JPEG ...), base64 strings in JSON, or raw
  bytes with the binary tensor data extension; they are decoded exactly as for training.

Tensor data may be nested or flat (row-major), as the protocol allows. The binary tensor data
extension (``Inference-Header-Content-Length``, ``binary_data_size``, ``binary_data`` and
``binary_data_output``) is supported in both directions, so Triton's HTTP client works with
its defaults.

Outputs: a classifier gives ``label`` (BYTES ``[n]``, class names) and, when it has
probabilities, ``probabilities`` (FP32 ``[n, n_classes]``, columns in the order of
``classes`` in the model metadata); ``features`` (FP32 ``[n, n_features]``) is what an
extractor gives, and what a classifier gives when it is the one output requested.
The protocol answers whole tensors, so an image that cannot be read fails the request (400,
naming the image and the reason).
"""

import json
import struct

import numpy as np
from fastapi import Request
from starlette.responses import Response

from .inputs import ApiError, decode_base64, read_body
from .models import ImageError
from .responses import documented_errors, json_response, version

HEADER_LENGTH = "inference-header-content-length"


def _bad(detail, error="bad inference request"):
    return ApiError(400, error, detail)


def model_metadata(model):
    """The protocol's model metadata of a served model."""
    rows, cols = model.size
    channels = 1 if model.grey else 3
    outputs = []
    if model.kind == "classifier":
        outputs.append({"name": "label", "datatype": "BYTES", "shape": [-1]})
        if model.has_probabilities:
            outputs.append(
                {"name": "probabilities", "datatype": "FP32", "shape": [-1, len(model.classes)]}
            )
    outputs.append({"name": "features", "datatype": "FP32", "shape": [-1, model.n_features]})
    return {
        "name": model.name,
        "platform": "visionfeatures",
        "inputs": [
            {"name": "images", "datatype": "UINT8", "shape": [-1, rows, cols, channels]},
            {"name": "encoded_images", "datatype": "BYTES", "shape": [-1]},
        ],
        "outputs": outputs,
        "classes": list(model.classes) if model.kind == "classifier" else None,
        "parameters": {"kind": model.kind, "sha256": model.sha256},
    }


def _split_body(body, header_length):
    if header_length is None:
        return body, b""
    try:
        n = int(header_length)
    except ValueError:
        raise _bad(f"Inference-Header-Content-Length is not a number: {header_length!r}") from None
    if not 0 < n <= len(body):
        raise _bad(f"Inference-Header-Content-Length {n} does not fit a body of {len(body)} bytes")
    return body[:n], body[n:]


def _shape(tensor):
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise _bad(f"input shape must be a list of non-negative ints; got {shape!r}")
    return shape


def _binary_part(tensor, binary, offset):
    size = (tensor.get("parameters") or {}).get("binary_data_size")
    if size is None:
        return None, offset
    if not isinstance(size, int) or size < 0 or offset + size > len(binary):
        raise _bad(f"binary_data_size {size!r} does not fit the {len(binary)} bytes sent")
    return binary[offset : offset + size], offset + size


def _uint8_images(tensor, shape, binary, model, max_pixels):
    n_values = int(np.prod(shape)) if shape else 0
    if len(shape) >= 3 and shape[1] * shape[2] > max_pixels:
        raise _bad(
            f"images of {shape[1]}x{shape[2]} pixels are over the limit of {max_pixels} "
            "pixels (--max-pixels)"
        )
    if binary is not None:
        flat = np.frombuffer(binary, dtype=np.uint8)
    else:
        data = tensor.get("data")
        try:
            flat = np.asarray(data).reshape(-1)
        except (ValueError, TypeError):
            raise _bad("UINT8 data must be a (nested or flat) list of integers") from None
        if flat.size and (flat.dtype.kind not in "iub" or flat.min() < 0 or flat.max() > 255):
            raise _bad("UINT8 data must hold integers from 0 to 255")
    if flat.size != n_values:
        raise _bad(f"the data hold {flat.size} values; shape {shape} needs {n_values}")
    try:
        images = model.check_pixels(flat.astype(np.uint8, copy=False).reshape(shape))
    except ValueError as exc:
        raise _bad(str(exc)) from None
    return list(images)


def _bytes_images(tensor, shape, binary):
    if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1):
        raise _bad(f"a BYTES input holds encoded images in shape [n] or [n, 1]; got {shape}")
    n = shape[0]
    if binary is not None:  # each element: a 4-byte little-endian length, then the bytes
        elements, offset = [], 0
        for _ in range(n):
            if offset + 4 > len(binary):
                raise _bad("the binary BYTES data end before the elements the shape names")
            (length,) = struct.unpack_from("<I", binary, offset)
            elements.append(binary[offset + 4 : offset + 4 + length])
            offset += 4 + length
        if offset != len(binary):
            raise _bad("the binary BYTES data do not match the shape")
        return elements
    data = tensor.get("data")
    flat = data if isinstance(data, list) else None
    if flat is not None and any(isinstance(x, list) for x in flat):
        flat = [y for x in flat for y in (x if isinstance(x, list) else [x])]
    if flat is None or not all(isinstance(x, str) for x in flat):
        raise _bad("BYTES data must be a list of base64 strings (or use binary_data_size)")
    if len(flat) != n:
        raise _bad(f"the data hold {len(flat)} elements; shape {shape} needs {n}")
    return [decode_base64(x) for x in flat]


def _requested_outputs(document, model):
    requested = document.get("outputs")
    if requested is None:
        names = ["label", "probabilities"] if model.kind == "classifier" else ["features"]
        names = [n for n in names if n != "probabilities" or model.has_probabilities]
        return [(name, {}) for name in names]
    if not isinstance(requested, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in requested
    ):
        raise _bad('outputs must be a list of {"name": ...} objects')
    known = [o["name"] for o in model_metadata(model)["outputs"]]
    for output in requested:
        if output["name"] not in known:
            raise _bad(f"model {model.name!r} has no output {output['name']!r}; outputs: {known}")
    names = {o["name"] for o in requested}
    if "features" in names and len(names) > 1:
        raise _bad("ask for features in a request of their own")
    return [(o["name"], o.get("parameters") or {}) for o in requested]


def _encode(name, values, datatype, shape, binary, parts):
    output = {"name": name, "datatype": datatype, "shape": shape}
    if not binary:
        output["data"] = values.reshape(-1).tolist() if datatype == "FP32" else list(values)
        return output
    if datatype == "FP32":
        data = np.ascontiguousarray(values, dtype="<f4").tobytes()
    else:
        data = b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values)
    parts.append(data)
    output["parameters"] = {"binary_data_size": len(data)}
    return output


def add_routes(app, service):
    """Add the protocol's routes to ``app`` (inference first), on the service of
    :func:`pipelines.serve.app.create_app`."""
    tags = ["open inference protocol v2"]

    @app.post(
        "/v2/models/{name}/infer",
        tags=tags,
        summary="Inference",
        description=__doc__.split("\n\n", 2)[2],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            "parameters": [
                {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
        },
        responses=documented_errors(400, 401, 404, 413, 422),
    )
    async def infer(request: Request):
        name = request.path_params["name"]  # a bare request: see the v1 endpoints

        model = service.model(name)
        body = await read_body(request, service.settings.max_body)
        head, binary = _split_body(body, request.headers.get(HEADER_LENGTH))
        try:
            document = json.loads(head)
        except (ValueError, UnicodeDecodeError) as exc:
            raise _bad(f"the body is not JSON: {exc}", "malformed JSON body") from None
        inputs = document.get("inputs") if isinstance(document, dict) else None
        if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
            raise _bad("send exactly one input tensor: UINT8 pixels or BYTES encoded images")
        tensor = inputs[0]
        shape = _shape(tensor)
        if not shape or shape[0] == 0:
            raise ApiError(422, "no image", f"the input tensor of shape {shape} holds no image")
        if shape[0] > service.settings.max_images:
            raise ApiError(
                413,
                "too many images",
                f"the tensor holds {shape[0]} images; the limit is "
                f"{service.settings.max_images} per request (--max-images)",
            )
        part, _ = _binary_part(tensor, binary, 0)
        datatype = tensor.get("datatype")
        if datatype == "UINT8":
            payloads = _uint8_images(tensor, shape, part, model, service.settings.max_pixels)
        elif datatype == "BYTES":
            payloads = _bytes_images(tensor, shape, part)
        else:
            raise _bad(f"input datatype {datatype!r} is not UINT8 (pixels) or BYTES (encoded)")
        wanted = _requested_outputs(document, model)
        op = "features" if wanted[0][0] == "features" else "predict"
        outputs = await service.run(model, payloads, op)
        failed = [(i, o.reason) for i, o in enumerate(outputs) if isinstance(o, ImageError)]
        if failed:
            i, reason = failed[0]
            more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
            raise _bad(f"image {i}: {reason}{more}", "unreadable image")

        all_binary = bool((document.get("parameters") or {}).get("binary_data_output"))
        parts, tensors = [], []
        n = len(outputs)
        for output_name, parameters in wanted:
            binary_out = bool(parameters.get("binary_data", all_binary))
            if output_name == "label":
                values = [o.label for o in outputs]
                tensors.append(_encode("label", values, "BYTES", [n], binary_out, parts))
            elif output_name == "probabilities":
                values = np.stack([o.probabilities for o in outputs]).astype(np.float32)
                shape_out = [n, len(model.classes)]
                tensors.append(_encode(output_name, values, "FP32", shape_out, binary_out, parts))
            else:
                values = np.stack(outputs)
                shape_out = [n, model.n_features]
                tensors.append(_encode(output_name, values, "FP32", shape_out, binary_out, parts))
        answer = {"model_name": name, "outputs": tensors}
        if "id" in document:
            answer["id"] = document["id"]
        if not parts:
            return json_response(answer)
        head = json.dumps(answer, separators=(",", ":")).encode()
        return Response(
            head + b"".join(parts),
            media_type="application/octet-stream",
            headers={"Inference-Header-Content-Length": str(len(head))},
        )

    @app.get("/v2", tags=tags, summary="Server metadata", responses=documented_errors(401))
    async def server_metadata():
        return json_response(
            {"name": "visionfeatures", "version": version(), "extensions": ["binary_tensor_data"]}
        )

    @app.get("/v2/health/live", tags=tags, summary="Server live")
    async def server_live():
        return json_response({"live": True})

    @app.get(
        "/v2/health/ready",
        tags=tags,
        summary="Server ready (503 until warmed up)",
        responses=documented_errors(503),
    )
    async def server_ready():
        return json_response({"ready": service.ready}, 200 if service.ready else 503)

    @app.get(
        "/v2/models/{name}",
        tags=tags,
        summary="Model metadata",
        responses=documented_errors(401, 404),
    )
    async def metadata(name: str):
        return json_response(model_metadata(service.model(name)))

    @app.get(
        "/v2/models/{name}/ready",
        tags=tags,
        summary="Model ready",
        responses=documented_errors(401, 404, 503),
    )
    async def model_ready(name: str):
        model = service.model(name)
        return json_response(
            {"name": model.name, "ready": service.ready}, 200 if service.ready else 503
        )
