"""The exact text of the service's error messages, each reached through the function raising it.

An error's text is what a client reads: each test asserts the whole message (and the HTTP
status and short error name of an :class:`ApiError`), for inputs that give exactly that error,
next to the nearest inputs that are still accepted. No server and no model file: the models
are :class:`ServedModel` objects built here around tiny stand-ins, and the few errors raised
only inside the ``/v2/models/{name}/infer`` route are asked of the app in-process.
"""

import asyncio
import json
import struct

import cv2
import httpx
import numpy as np
import pytest

from pipelines.serve import models as serve_models
from pipelines.serve import oip
from pipelines.serve.app import create_app
from pipelines.serve.inputs import (
    ApiError,
    check_content_type,
    image_payloads,
    json_images,
    multipart_images,
    read_body,
)
from pipelines.serve.models import (
    ImageError,
    ModelFileError,
    load_served,
    resolve_specs,
)
from pipelines.serve.settings import Settings, parse_bytes, parse_pixels

from ._serve import served_model

# inputs.FORMS, spelled out: the end of every "send ..." hint
FORMS = (
    "multipart/form-data with each image in a part named 'images', application/json "
    '{"images": ["<base64>", ...]}, or one image as the body with its image/* content type'
)
MULTIPART = "multipart/form-data; boundary=xx"


class _Features:
    """A fitted extractor's stand-in: two feature columns, rows of zeros."""

    def get_feature_names_out(self):
        return np.array(["f0", "f1"])

    def transform(self, images):
        return np.zeros((len(images), 2))


class _Head:
    """A classifier head's stand-in that has probabilities."""

    def predict_proba(self, rows):
        return np.full((len(rows), 2), 0.5)


def served(name="m", kind="classifier", shape=(8, 8, 3), probabilities=True):
    head = _Head() if kind == "classifier" and probabilities else None
    if kind == "classifier" and not probabilities:
        head = object()  # a head without predict_proba (a linear SVM)
    classes = ["bars", "stripes"] if kind == "classifier" else []
    return served_model(
        shape, name=name, kind=kind, features=_Features(), head=head, classes=classes
    )


def api_error(call, *args, **kwargs):
    with pytest.raises(ApiError) as raised:
        call(*args, **kwargs)
    error = raised.value
    assert str(error) == error.detail
    return error.status, error.error, error.detail


def bad(detail):
    """What oip's ``_bad`` raises: a 400 "bad inference request"."""
    return 400, "bad inference request", detail


def part(name, content):
    """One part of a multipart body of boundary ``xx`` (the closing boundary not included)."""
    return (
        f'--xx\r\nContent-Disposition: form-data; name="{name}"; filename="a.png"\r\n\r\n'.encode()
        + content
        + b"\r\n"
    )


def binary_bytes(*elements):
    """The binary form of a BYTES tensor: each element's 4-byte little-endian length, then it."""
    return b"".join(struct.pack("<I", len(e)) + e for e in elements)


# -- oip._split_body: the Inference-Header-Content-Length header ------------------------------
@pytest.mark.parametrize(
    "header, body, detail",
    [
        ("abc", b"{}", "Inference-Header-Content-Length is not a number: 'abc'"),
        ("", b"{}", "Inference-Header-Content-Length is not a number: ''"),
        ("0", b"{}", "Inference-Header-Content-Length 0 does not fit a body of 2 bytes"),
        ("-1", b"{}", "Inference-Header-Content-Length -1 does not fit a body of 2 bytes"),
        ("3", b"{}", "Inference-Header-Content-Length 3 does not fit a body of 2 bytes"),
    ],
)
def test_a_header_length_that_does_not_fit_the_body_is_refused(header, body, detail):
    assert api_error(oip._split_body, body, header) == bad(detail)


def test_a_header_length_from_one_byte_to_the_whole_body_splits_it():
    assert oip._split_body(b"{}xyz", None) == (b"{}xyz", b"")
    assert oip._split_body(b"{}xyz", "1") == (b"{", b"}xyz")
    assert oip._split_body(b"{}xyz", "5") == (b"{}xyz", b"")


# -- oip._shape and oip._binary_part: a tensor's shape and its binary_data_size ---------------
@pytest.mark.parametrize(
    "shape, shown",
    [(None, "None"), ("3", "'3'"), ([1, -1], "[1, -1]"), ([1.0], "[1.0]"), ([True], "[True]")],
)
def test_a_shape_that_is_not_a_list_of_non_negative_ints_is_refused(shape, shown):
    detail = f"input shape must be a list of non-negative ints; got {shown}"
    assert api_error(oip._shape, {"shape": shape}) == bad(detail)


@pytest.mark.parametrize("shape", [[], [0], [2, 0, 3]])
def test_a_shape_of_zeros_is_a_shape(shape):
    assert oip._shape({"shape": shape}) == shape


@pytest.mark.parametrize(
    "size, offset, shown",
    [(5, 0, "5"), (2, 3, "2"), (-1, 0, "-1"), ("4", 0, "'4'"), (2.0, 0, "2.0")],
)
def test_a_binary_data_size_beyond_the_bytes_sent_is_refused(size, offset, shown):
    tensor = {"parameters": {"binary_data_size": size}}
    detail = f"binary_data_size {shown} does not fit the 4 bytes sent"
    assert api_error(oip._binary_part, tensor, b"abcd", offset) == bad(detail)


@pytest.mark.parametrize(
    "size, offset, expected",
    [(4, 0, (b"abcd", 4)), (1, 3, (b"d", 4)), (0, 4, (b"", 4)), (None, 2, (None, 2))],
)
def test_a_binary_data_size_up_to_the_last_byte_is_cut_out(size, offset, expected):
    tensor = {"parameters": {"binary_data_size": size}}
    assert oip._binary_part(tensor, b"abcd", offset) == expected


# -- oip._uint8_images: pixel tensors ---------------------------------------------------------
PIXELS = [1, 2, 2, 3]
NOT_A_LIST = "UINT8 data must be a (nested or flat) list of integers"
NOT_0_TO_255 = "UINT8 data must hold integers from 0 to 255"


@pytest.mark.parametrize(
    "tensor, shape, binary, detail",
    [
        (
            {"data": [0] * 75},
            [1, 5, 5, 3],
            None,
            "images of 5x5 pixels are over the limit of 24 pixels (--max-pixels)",
        ),
        ({"data": [[1, 2], [3]]}, PIXELS, None, NOT_A_LIST),
        ({"data": [256] * 12}, PIXELS, None, NOT_0_TO_255),
        ({"data": [-1] * 12}, PIXELS, None, NOT_0_TO_255),
        ({"data": [1.5] * 12}, PIXELS, None, NOT_0_TO_255),
        ({"data": ["a"] * 12}, PIXELS, None, NOT_0_TO_255),
        ({}, PIXELS, None, NOT_0_TO_255),
        ({"data": [1] * 5}, PIXELS, None, "the data hold 5 values; shape [1, 2, 2, 3] needs 12"),
        ({"data": []}, PIXELS, None, "the data hold 0 values; shape [1, 2, 2, 3] needs 12"),
        ({}, PIXELS, b"\0" * 13, "the data hold 13 values; shape [1, 2, 2, 3] needs 12"),
        (
            {"data": [1] * 4},
            [1, 2, 2, 1],
            None,
            "model 'm' takes RGB images as a tensor of shape [n, rows, cols, 3]; "
            "got shape [1, 2, 2, 1]",
        ),
        (
            {"data": []},
            [1, 0, 2, 3],
            None,
            "model 'm' takes RGB images as a tensor of shape [n, rows, cols, 3]; "
            "got shape [1, 0, 2, 3]",
        ),
    ],
)
def test_pixel_tensors_that_cannot_be_images_are_refused(tensor, shape, binary, detail):
    error = api_error(oip._uint8_images, tensor, shape, binary, served(), max_pixels=24)
    assert error == bad(detail)


def test_pixels_from_0_to_255_of_images_at_the_pixel_limit_are_images():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (1, 5, 5, 3))
    pixels[0, 0, 0] = [0, 255, 0]
    tensor = {"data": pixels.tolist()}
    images = oip._uint8_images(tensor, [1, 5, 5, 3], None, served(), max_pixels=25)
    np.testing.assert_array_equal(np.stack(images), pixels.astype(np.uint8))
    raw = pixels.astype(np.uint8).tobytes()
    images = oip._uint8_images({}, [1, 5, 5, 3], raw, served(), max_pixels=25)
    np.testing.assert_array_equal(np.stack(images), pixels.astype(np.uint8))


# -- models.ServedModel.check_pixels: the channels a model takes --------------------------------
@pytest.mark.parametrize(
    "shape, array_shape, detail",
    [
        (
            (8, 8, 3),
            (2, 8, 8),
            "model 'm' takes RGB images as a tensor of shape [n, rows, cols, 3]; "
            "got shape [2, 8, 8]",
        ),
        (
            (8, 8, 3),
            (1, 2, 8, 8, 3),
            "model 'm' takes RGB images as a tensor of shape [n, rows, cols, 3]; "
            "got shape [1, 2, 8, 8, 3]",
        ),
        (
            (8, 8),
            (2, 8, 8, 3),
            "model 'm' takes grey images as a tensor of shape [n, rows, cols] or "
            "[n, rows, cols, 1]; got shape [2, 8, 8, 3]",
        ),
        (
            (8, 8),
            (0, 8, 8),
            "model 'm' takes grey images as a tensor of shape [n, rows, cols] or "
            "[n, rows, cols, 1]; got shape [0, 8, 8]",
        ),
    ],
)
def test_pixel_arrays_of_the_wrong_channels_are_refused_naming_the_layout(
    shape, array_shape, detail
):
    with pytest.raises(ValueError) as raised:
        served(shape=shape).check_pixels(np.zeros(array_shape, np.uint8))
    assert str(raised.value) == detail


# -- oip._bytes_images: encoded images -------------------------------------------------------
@pytest.mark.parametrize(
    "tensor, shape, binary, detail",
    [
        (
            {"data": []},
            [],
            None,
            "a BYTES input holds encoded images in shape [n] or [n, 1]; got []",
        ),
        (
            {"data": ["aGk="] * 2},
            [1, 2],
            None,
            "a BYTES input holds encoded images in shape [n] or [n, 1]; got [1, 2]",
        ),
        (  # [n, 0] is not [n, 1] either
            {"data": []},
            [1, 0],
            None,
            "a BYTES input holds encoded images in shape [n] or [n, 1]; got [1, 0]",
        ),
        (
            {"data": ["aGk="]},
            [1, 1, 1],
            None,
            "a BYTES input holds encoded images in shape [n] or [n, 1]; got [1, 1, 1]",
        ),
        (
            {},
            [2],
            binary_bytes(b"abc"),
            "the binary BYTES data end before the elements the shape names",
        ),
        ({}, [1], b"\3\0\0", "the binary BYTES data end before the elements the shape names"),
        ({}, [1], binary_bytes(b"abc") + b"!", "the binary BYTES data do not match the shape"),
        ({}, [1], struct.pack("<I", 9) + b"abc", "the binary BYTES data do not match the shape"),
        (
            {"data": "aGk="},
            [1],
            None,
            "BYTES data must be a list of base64 strings (or use binary_data_size)",
        ),
        ({}, [1], None, "BYTES data must be a list of base64 strings (or use binary_data_size)"),
        (
            {"data": [["aGk="], 2]},
            [2],
            None,
            "BYTES data must be a list of base64 strings (or use binary_data_size)",
        ),
        ({"data": ["aGk="] * 2}, [1], None, "the data hold 2 elements; shape [1] needs 1"),
        ({"data": [["aGk="]]}, [2, 1], None, "the data hold 1 elements; shape [2, 1] needs 2"),
    ],
)
def test_bytes_tensors_that_do_not_hold_their_shape_are_refused(tensor, shape, binary, detail):
    assert api_error(oip._bytes_images, tensor, shape, binary) == bad(detail)


def test_bytes_tensors_of_shape_n_or_n_1_give_their_elements():
    assert oip._bytes_images({"data": [["aGk="], ["aGk="]]}, [2, 1], None) == [b"hi", b"hi"]
    assert oip._bytes_images({"data": ["aGk="]}, [1], None) == [b"hi"]
    assert oip._bytes_images({}, [2], binary_bytes(b"abc", b"")) == [b"abc", b""]


# -- oip._requested_outputs: the outputs a request names --------------------------------------
@pytest.mark.parametrize(
    "outputs",
    ["label", {"name": "label"}, ["label"], [{"name": 1}], [{"parameters": {}}]],
)
def test_outputs_that_are_not_a_list_of_named_objects_are_refused(outputs):
    detail = 'outputs must be a list of {"name": ...} objects'
    assert api_error(oip._requested_outputs, {"outputs": outputs}, served()) == bad(detail)


@pytest.mark.parametrize(
    "model, name, known",
    [
        (served(), "x", "['label', 'probabilities', 'features']"),
        (served(probabilities=False), "probabilities", "['label', 'features']"),
        (served(kind="extractor"), "label", "['features']"),
    ],
)
def test_an_output_the_model_does_not_have_is_refused_listing_its_outputs(model, name, known):
    detail = f"model 'm' has no output {name!r}; outputs: {known}"
    document = {"outputs": [{"name": "label"}, {"name": name}]}
    assert api_error(oip._requested_outputs, document, model) == bad(detail)


def test_features_are_asked_for_on_their_own():
    detail = "ask for features in a request of their own"
    for names in (["features", "label"], ["probabilities", "features"]):
        document = {"outputs": [{"name": n} for n in names]}
        assert api_error(oip._requested_outputs, document, served()) == bad(detail)
    alone = {"outputs": [{"name": "features"}, {"name": "features"}]}
    assert oip._requested_outputs(alone, served()) == [("features", {}), ("features", {})]
    both = {"outputs": [{"name": "label"}, {"name": "probabilities"}]}
    assert oip._requested_outputs(both, served()) == [("label", {}), ("probabilities", {})]


# -- oip's infer route: the errors raised in the route itself (no lifespan needed: every
# request here is answered before the model's batcher is asked) --------------------------
@pytest.fixture(scope="module")
def app():
    return create_app({"m": served()}, Settings(max_images=2))


def infer(app, body, headers=None):
    async def ask():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post("/v2/models/m/infer", content=body, headers=headers)

    answer = asyncio.run(ask())
    return answer.status_code, answer.json()["error"], answer.json()["detail"]


def tensor_request(shape, datatype="BYTES", data=None):
    tensor = {"name": "encoded_images", "datatype": datatype, "shape": shape}
    if data is not None:
        tensor["data"] = data
    return json.dumps({"inputs": [tensor]}).encode()


@pytest.mark.parametrize(
    "body, expected",
    [
        (
            b"{nope",
            (
                400,
                "malformed JSON body",
                "the body is not JSON: Expecting property name enclosed in double quotes: "
                "line 1 column 2 (char 1)",
            ),
        ),
        *[
            (
                json.dumps(document).encode(),
                bad("send exactly one input tensor: UINT8 pixels or BYTES encoded images"),
            )
            for document in (
                {},
                [1],
                {"inputs": {}},
                {"inputs": []},
                {"inputs": ["x"]},
                {"inputs": [{"shape": [1]}, {"shape": [1]}]},
            )
        ],
        (tensor_request([]), (422, "no image", "the input tensor of shape [] holds no image")),
        (
            tensor_request([0, 2, 2, 3], "UINT8", []),
            (422, "no image", "the input tensor of shape [0, 2, 2, 3] holds no image"),
        ),
        (
            tensor_request([3], data=["aGk="] * 3),
            (
                413,
                "too many images",
                "the tensor holds 3 images; the limit is 2 per request (--max-images)",
            ),
        ),
        (
            tensor_request([1], "FP32", [1.0]),
            bad("input datatype 'FP32' is not UINT8 (pixels) or BYTES (encoded)"),
        ),
        (
            tensor_request([1], None, [1]),
            bad("input datatype None is not UINT8 (pixels) or BYTES (encoded)"),
        ),
        (
            tensor_request([1], data=["not base64!"]),
            (400, "unreadable image", "image 0: not valid base64"),
        ),
        (  # the image limit itself is allowed
            tensor_request([2], data=["not base64!"] * 2),
            (400, "unreadable image", "image 0: not valid base64 (and 1 more)"),
        ),
    ],
)
def test_infer_refuses_requests_it_cannot_answer(app, body, expected):
    assert infer(app, body, {"Content-Type": "application/json"}) == expected


# -- inputs: image_payloads, check_content_type, multipart_images, json_images ----------------
@pytest.mark.parametrize(
    "body, content_type",
    [
        (b'{"images": []}', "application/json"),
        (part("other", b"abc") + b"--xx--\r\n", MULTIPART),
        (b"--xx--\r\n", MULTIPART),
    ],
)
def test_a_request_without_images_is_told_how_to_send_them(body, content_type):
    detail = f"the request holds no image; send {FORMS}"
    assert api_error(image_payloads, body, content_type, max_images=2) == (422, "no image", detail)


@pytest.mark.parametrize(
    "content_type, shown",
    [("text/plain; charset=utf-8", "'text/plain'"), ("", "'(none)'")],
)
def test_a_content_type_without_images_is_refused(content_type, shown):
    detail = f"content type {shown} holds no images; send {FORMS}"
    expected = (415, "unsupported content type", detail)
    assert api_error(check_content_type, content_type) == expected


@pytest.mark.parametrize(
    "content_type, body, detail",
    [
        ("multipart/form-data", b"", "the Content-Type has no boundary"),
        ("multipart/form-data; boundary=", b"", "the Content-Type has no boundary"),
        # python-multipart's own words (None: they may change between its releases) for a
        # body that does not start with the boundary
        (MULTIPART, b"garbage", None),
        (MULTIPART, b"", "the body ends before its last boundary"),
        (MULTIPART, part("images", b"abc"), "the body ends before its last boundary"),
    ],
)
def test_a_malformed_multipart_body_is_refused(content_type, body, detail):
    status, error, said = api_error(multipart_images, body, content_type, max_images=2)
    assert (status, error) == (400, "malformed multipart body")
    if detail is None:
        assert said.strip() and "\n" not in said
    else:
        assert said == detail


def test_at_most_max_images_parts_are_read():
    two = part("images", b"a") + part("images", b"b")
    assert multipart_images(two + b"--xx--\r\n", MULTIPART, max_images=2) == [b"a", b"b"]
    three = two + part("images", b"c") + b"--xx--\r\n"
    detail = "the request holds more than 2 images; the limit is 2 per request (--max-images)"
    error = api_error(multipart_images, three, MULTIPART, max_images=2)
    assert error == (413, "too many images", detail)


@pytest.mark.parametrize(
    "body, detail",
    [
        (b"{no", "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
        (b"", "Expecting value: line 1 column 1 (char 0)"),
        (b"\xff", "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"),
    ],
)
def test_a_body_that_is_not_json_is_refused_with_the_parsers_reason(body, detail):
    assert api_error(json_images, body, max_images=2) == (400, "malformed JSON body", detail)


@pytest.mark.parametrize(
    "document",
    [{"pictures": ["aGk="]}, ["aGk="], {"images": "aGk="}, {"images": ["aGk=", 1]}, "aGk="],
)
def test_a_json_body_without_a_list_of_base64_strings_is_shown_the_form(document):
    detail = 'a JSON body must be {"images": ["<base64>", ...]}, a list of base64 strings'
    error = api_error(json_images, json.dumps(document).encode(), max_images=2)
    assert error == (422, "no image", detail)


def test_at_most_max_images_base64_images_are_read():
    assert json_images(b'{"images": ["aGk=", "aGk="]}', max_images=2) == [b"hi", b"hi"]
    detail = "the request holds 3 images; the limit is 2 per request (--max-images)"
    error = api_error(json_images, json.dumps({"images": ["aGk="] * 3}).encode(), max_images=2)
    assert error == (413, "too many images", detail)


# -- inputs.read_body: the body limit ---------------------------------------------------------
class _Request:
    """The part of a Starlette request that read_body uses."""

    def __init__(self, chunks, length=None):
        self.headers = {} if length is None else {"content-length": str(length)}
        self.chunks = chunks

    async def stream(self):
        for chunk in self.chunks:
            yield chunk


@pytest.mark.parametrize(
    "chunks, length, size",
    [([b"x" * 11], 11, "11"), ([b"x" * 6, b"x" * 5], None, "over 11")],
)
def test_a_body_over_the_limit_is_refused(chunks, length, size):
    # a declared Content-Length is refused as it is; a streamed body once past the limit
    detail = f"the body is {size} bytes; the limit is 10 bytes (--max-body)"
    with pytest.raises(ApiError) as raised:
        asyncio.run(read_body(_Request(chunks, length), 10))
    error = raised.value
    assert (error.status, error.error, error.detail) == (413, "request body too large", detail)


def test_a_body_of_exactly_the_limit_is_read():
    assert asyncio.run(read_body(_Request([b"x" * 6, b"x" * 4], 10), 10)) == b"x" * 10
    assert asyncio.run(read_body(_Request([b"x" * 6, b"x" * 4]), 10)) == b"x" * 10


# -- settings.Settings: validation ------------------------------------------------------------
@pytest.mark.parametrize("name", ["max_batch", "max_body", "max_images", "max_pixels"])
@pytest.mark.parametrize("value", [0, -1, 1.5, True, "8", None])
def test_a_limit_that_is_not_a_positive_int_is_refused(name, value):
    with pytest.raises(ValueError) as raised:
        Settings(**{name: value})
    assert str(raised.value) == f"Settings.{name} must be a positive int; got {value!r}."


@pytest.mark.parametrize("name", ["max_batch", "max_body", "max_images", "max_pixels"])
def test_a_limit_of_one_is_allowed(name):
    assert getattr(Settings(**{name: 1}), name) == 1


@pytest.mark.parametrize("value", [-0.001, 10_000.001, "5", None])
def test_a_batching_wait_outside_0_to_10_s_is_refused(value):
    with pytest.raises(ValueError) as raised:
        Settings(max_wait_ms=value)
    assert str(raised.value) == (
        f"Settings.max_wait_ms must be a number of milliseconds in [0, 10000]; got {value!r}."
    )


@pytest.mark.parametrize("value", [0, 0.0, 2.5, 10_000])
def test_a_batching_wait_from_0_to_10_s_is_allowed(value):
    assert Settings(max_wait_ms=value).max_wait_ms == value


def test_an_empty_api_key_is_refused():
    with pytest.raises(ValueError) as raised:
        Settings(api_key="")
    assert str(raised.value) == "Settings.api_key must not be empty; use None for no key."
    assert Settings(api_key="k").api_key == "k" and Settings(api_key=None).api_key is None


# -- settings.parse_bytes and parse_pixels: the command's sizes -------------------------------
@pytest.mark.parametrize("text", ["12XB", "", "-5", "abc", "1.5.2", "k", None])
def test_a_size_that_is_not_one_is_refused(text):
    with pytest.raises(ValueError) as raised:
        parse_bytes(text)
    assert str(raised.value) == f"expected a size such as 32MiB, 500kB or 1048576; got {text!r}"


@pytest.mark.parametrize("text", ["0", "0.4", "0kB", "0.0009k"])
def test_a_size_under_one_byte_is_refused(text):
    with pytest.raises(ValueError) as raised:
        parse_bytes(text)
    assert str(raised.value) == f"expected a positive size; got {text!r}"


@pytest.mark.parametrize("text, size", [("1", 1), ("0.001k", 1), ("1b", 1), ("1KiB", 1024)])
def test_a_size_of_one_byte_or_more_is_read(text, size):
    assert parse_bytes(text) == size


@pytest.mark.parametrize("text", ["big", "4096x", "x5", "-1", "1.5", "", "2x3x4"])
def test_a_pixel_limit_that_is_not_one_is_refused(text):
    with pytest.raises(ValueError) as raised:
        parse_pixels(text)
    expected = f"expected ROWSxCOLS such as 4096x4096, or a pixel count; got {text!r}"
    assert str(raised.value) == expected


@pytest.mark.parametrize("text", ["0", "0x10", "10 x 0"])
def test_a_pixel_limit_of_no_pixel_is_refused(text):
    with pytest.raises(ValueError) as raised:
        parse_pixels(text)
    assert str(raised.value) == f"expected a positive number of pixels; got {text!r}"


def test_a_pixel_limit_of_one_pixel_is_read():
    assert parse_pixels("1") == 1 and parse_pixels("1x1") == 1 and parse_pixels("2*3") == 6


# -- models.ServedModel.run_batch and warm_up: decoding failures ------------------------------
def _png(shape):
    rng = np.random.default_rng(3)
    return cv2.imencode(".png", rng.integers(0, 256, shape, dtype=np.uint8))[1].tobytes()


# the model's own size over the pixel limit: a ValueError of the decoder, not a DecodeError
OVER = (
    "not a decodable image (ValueError: size 8x8 is 64 pixels, over the limit of 10 pixels "
    "per image (max_pixels, --max-pixels).)"
)


def test_a_decoder_failure_is_the_images_error_naming_the_exception():
    model = served(kind="extractor", shape=(8, 8))
    outputs = model.run_batch([(_png((8, 8)), "features")], max_pixels=10)
    assert outputs == [ImageError(OVER)]


def test_a_failed_warm_up_names_the_model_and_the_first_reason():
    model = served(name="digits", kind="extractor", shape=(8, 8))
    with pytest.raises(RuntimeError) as raised:
        model.warm_up(10)
    assert str(raised.value) == f"warm-up of model 'digits' failed: {OVER}"
    assert model.warm_up(64) == 4


# -- models.resolve_specs: naming the models --------------------------------------------------
def test_a_folder_without_model_files_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_bytes(b"")
    with pytest.raises(ModelFileError) as raised:
        resolve_specs([str(tmp_path)])
    assert str(raised.value) == f"Model folder {str(tmp_path)!r} holds no .skops file."


@pytest.mark.parametrize(
    "spec, name, path",
    [
        ("a b.skops", "a b", "a b.skops"),
        ("b c=m.skops", "b c=m", "b c=m.skops"),
        ("_x.skops", "_x", "_x.skops"),
        ("x" * 129 + ".skops", "x" * 129, "x" * 129 + ".skops"),
    ],
)
def test_a_model_name_unusable_in_a_url_is_refused(spec, name, path):
    with pytest.raises(ModelFileError) as raised:
        resolve_specs([spec])
    assert str(raised.value) == (
        f"Model name {name!r} (of {path!r}) is not usable in a URL: use letters, digits, '.', "
        "'_' and '-', or name it with NAME=PATH."
    )


def test_a_model_name_of_128_url_characters_is_usable():
    name = "A" + "x" * 124 + "._-"
    assert resolve_specs([f"{name}.skops"]) == [(name, f"{name}.skops")]


def test_two_models_of_one_name_are_refused(tmp_path):
    (tmp_path / "a.skops").write_bytes(b"")
    with pytest.raises(ModelFileError) as raised:
        resolve_specs([str(tmp_path / "a.skops"), "a=other.skops"])
    assert str(raised.value) == (
        f"Two models are named 'a' ({str(tmp_path / 'a.skops')!r} and 'other.skops'); name "
        "them with NAME=PATH."
    )


# -- models.load_served: what a loaded file must hold -----------------------------------------
@pytest.fixture
def loaded(tmp_path, monkeypatch):
    """load_served on a file whose loaded content is ``model`` and ``input_shape``."""
    path = tmp_path / "m.skops"
    path.write_bytes(b"a model file")

    def load(model, input_shape):
        content = {"model": model, "input_shape": input_shape, "class_names": None}
        monkeypatch.setattr(serve_models, "load_model", lambda path, **options: content)
        return load_served("m", path)

    return path, load


@pytest.mark.parametrize("shape", [None, [8], [8, 8, 1], [8, 8, 4], [8, 8, 3, 1]])
def test_a_file_without_a_usable_input_shape_is_refused(loaded, shape):
    from sklearn.preprocessing import StandardScaler

    path, load = loaded
    with pytest.raises(ModelFileError) as raised:
        load(StandardScaler(), shape)
    assert str(raised.value) == (
        f"Model file {str(path)!r} records no usable input_shape ({shape!r}): the service "
        "needs (rows, cols) or (rows, cols, 3) to decode images as for training."
    )


@pytest.mark.parametrize("shape", [[8, 8], [8, 8, 3]])
def test_a_grey_or_rgb_input_shape_is_usable(loaded, shape):
    from sklearn.preprocessing import StandardScaler

    _, load = loaded
    model = load(StandardScaler(), shape)
    assert model.kind == "extractor" and model.input_shape == tuple(shape)


def test_a_classifier_that_is_not_a_features_pipeline_is_refused(loaded):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    path, load = loaded
    refused = [
        (LogisticRegression(), "LogisticRegression"),
        (Pipeline([("features", LogisticRegression())]), "Pipeline"),
        (Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]), "Pipeline"),
    ]
    for model, kind in refused:
        with pytest.raises(ModelFileError) as raised:
            load(model, [8, 8])
        assert str(raised.value) == (
            f"Model file {str(path)!r} holds a {kind} that is not a pipeline starting with a "
            "'features' step (as train.py writes)."
        )
    accepted = Pipeline([("features", StandardScaler()), ("clf", LogisticRegression())])
    assert load(accepted, [8, 8]).kind == "classifier"


def test_a_file_holding_neither_a_classifier_nor_an_extractor_is_refused(loaded):
    path, load = loaded
    with pytest.raises(ModelFileError) as raised:
        load({"x": 1}, [8, 8])
    assert str(raised.value) == (
        f"Model file {str(path)!r} holds a dict, neither a classifier pipeline nor an extractor."
    )
