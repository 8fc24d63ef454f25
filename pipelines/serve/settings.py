"""The service's settings: one small dataclass whose defaults are the command line's defaults.

Nothing here imports NumPy, the web framework or the models, so that the command's ``--help``
answers at once.
"""

import re
from dataclasses import dataclass

from .._runtime import DEFAULT_MAX_PIXELS

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1 << 10, "m": 1000**2, "mb": 1000**2}
_UNITS.update({"mib": 1 << 20, "g": 1000**3, "gb": 1000**3, "gib": 1 << 30})


@dataclass(frozen=True)
class Settings:
    """Limits and batching of the service; the defaults are those of ``visionfeatures serve``.

    Attributes
    ----------
    max_batch : int, default=64
        Most images run through a pipeline at once; images of concurrent requests are
        gathered up to this number.
    max_wait_ms : float, default=5.0
        How long the first image of a batch waits for more to join it, in milliseconds.
    max_body : int, default=32 MiB
        Largest request body, in bytes (413 beyond).
    max_images : int, default=1024
        Most images in one request (413 beyond).
    max_pixels : int, default=4096*4096
        Largest image (rows x cols), read from the image's header before decoding; a larger
        image gets an error of its own.
    api_key : str or None, default=None
        When set, every endpoint but the health checks, the page and the API schema asks for
        it (``Authorization: Bearer KEY`` or ``X-API-Key: KEY``; 401 otherwise).
    """

    max_batch: int = 64
    max_wait_ms: float = 5.0
    max_body: int = 32 << 20
    max_images: int = 1024
    max_pixels: int = DEFAULT_MAX_PIXELS
    api_key: str | None = None

    def __post_init__(self):
        for name in ("max_batch", "max_body", "max_images", "max_pixels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Settings.{name} must be a positive int; got {value!r}.")
        if not isinstance(self.max_wait_ms, (int, float)) or not 0 <= self.max_wait_ms <= 10_000:
            raise ValueError(
                f"Settings.max_wait_ms must be a number of milliseconds in [0, 10000]; "
                f"got {self.max_wait_ms!r}."
            )
        if self.api_key is not None and not self.api_key:
            raise ValueError("Settings.api_key must not be empty; use None for no key.")

    def __repr__(self):  # never print the key
        key = None if self.api_key is None else "***"
        return (
            f"Settings(max_batch={self.max_batch}, max_wait_ms={self.max_wait_ms}, "
            f"max_body={self.max_body}, max_images={self.max_images}, "
            f"max_pixels={self.max_pixels}, api_key={key})"
        )


def parse_bytes(text):
    """A size in bytes from text such as ``32MiB``, ``500kB``, ``1048576``.

    Examples
    --------
    >>> from pipelines.serve.settings import parse_bytes
    >>> parse_bytes("32MiB"), parse_bytes("2k"), parse_bytes("100")
    (33554432, 2000, 100)
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(text))
    unit = match and match.group(2).lower()
    if not match or unit not in _UNITS:
        raise ValueError(f"expected a size such as 32MiB, 500kB or 1048576; got {text!r}")
    value = int(float(match.group(1)) * _UNITS[unit])
    if value < 1:
        raise ValueError(f"expected a positive size; got {text!r}")
    return value


def parse_pixels(text):
    """A number of pixels from ``ROWSxCOLS`` (``4096x4096``) or a plain count.

    Examples
    --------
    >>> from pipelines.serve.settings import parse_pixels
    >>> parse_pixels("4096x4096"), parse_pixels("1000000")
    (16777216, 1000000)
    """
    match = re.fullmatch(r"\s*(\d+)\s*(?:[xX*]\s*(\d+))?\s*", str(text))
    if not match:
        raise ValueError(f"expected ROWSxCOLS such as 4096x4096, or a pixel count; got {text!r}")
    value = int(match.group(1)) * int(match.group(2) or 1)
    if value < 1:
        raise ValueError(f"expected a positive number of pixels; got {text!r}")
    return value
