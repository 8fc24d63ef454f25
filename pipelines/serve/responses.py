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


def version():
    """The installed version of the library (``unknown`` when not installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    try:
        return package_version("visionfeatures")
    except PackageNotFoundError:
        return "unknown"
