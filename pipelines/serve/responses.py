"""JSON answers of the service, in its one error format ``{"error": short, "detail": longer}``."""

import json

from starlette.responses import Response


def json_response(content, status=200, headers=None):
    """A JSON response, serialised once with the standard library."""
    body = json.dumps(content, separators=(",", ":")).encode()
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def error_response(status, error, detail, headers=None):
    """The service's error answer: ``{"error": short, "detail": longer}``."""
    return json_response({"error": error, "detail": detail}, status, headers)


# The error statuses of the service, as the API document describes them (``responses=`` of a
# route): what each means, with an example of the answer.
_ERROR_STATUSES = {
    400: (
        "a malformed body (JSON, multipart, v2 tensors) or a model without the step asked for",
        "malformed JSON body",
    ),
    401: ("missing or wrong API key", "unauthorized"),
    404: ("unknown model", "unknown model"),
    413: ("body or image count over the limit", "too many images"),
    415: ("a content type that holds no images", "unsupported content type"),
    422: (
        "no image, or not what the route takes (hog: one readable image; top_k >= 1)",
        "no image",
    ),
    503: ("not ready: the models are loading or warming up", "not ready"),
}


def documented_errors(*statuses):
    """The ``responses=`` entries of a route for the error ``statuses`` it can answer.

    Examples
    --------
    >>> from pipelines.serve.responses import documented_errors
    >>> documented_errors(404)[404]["description"]
    'unknown model'
    """
    return {
        status: {
            "description": _ERROR_STATUSES[status][0],
            "content": {
                "application/json": {
                    "example": {"error": _ERROR_STATUSES[status][1], "detail": "..."}
                }
            },
        }
        for status in statuses
    }


def version():
    """The installed version of the library (``unknown`` when not installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    try:
        return package_version("visionfeatures")
    except PackageNotFoundError:
        return "unknown"
