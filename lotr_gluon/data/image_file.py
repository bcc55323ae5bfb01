"""A photo on disk: its pixels, its size, and whether the file is whole.

OpenCV decodes a truncated JPEG without an error (it warns on stderr and fills the missing
rows with grey), so a damaged file would reach training as a grey-filled face. Every photo
that training, evaluation and prediction read goes through :func:`read_image_file`, which
reads the file's bytes once, checks their structure (:func:`damage`) and only then decodes
them:

- a JPEG must reach its end-of-image marker: its segments are walked from the start, so an
  embedded thumbnail's marker does not count, and bytes after the marker (padding, a
  phone's appended video) are ignored;
- a PNG's chunks must each match their CRC, up to the ``IEND`` chunk;
- a WebP or BMP file must be as long as its header says;
- any file must decode (other formats are checked by their decoder alone).

:func:`find_damaged` runs the structural check (no decoding) over a dataset before training
starts, so that a damaged photo is known, and left out or refused, before any epoch.
"""
from __future__ import annotations

import re
import zlib
from typing import Iterable, List, Optional, Tuple

import cv2
import numpy as np

from .samples import DatasetError, Problem

_JPEG_START = b"\xff\xd8"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Inside entropy-coded data 0xFF is followed by 0x00 (a stuffed byte) or a restart marker
# (0xD0-0xD7); anything else after it is the next marker.
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7]")
_STANDALONE_MARKERS = frozenset([0x01, *range(0xD0, 0xD8)])  # TEM and RSTn carry no length
_END_OF_IMAGE, _START_OF_SCAN = 0xD9, 0xDA


def _jpeg_damage(data: bytes) -> Optional[str]:
    truncated = "truncated JPEG (it ends before its end-of-image marker)"
    pos = len(_JPEG_START)
    while True:
        pos = data.find(b"\xff", pos)  # libjpeg also skips stray bytes before a marker
        if pos < 0:
            return truncated
        while pos < len(data) and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= len(data):
            return truncated
        marker = data[pos]
        pos += 1
        if marker == _END_OF_IMAGE:
            return None
        if marker in _STANDALONE_MARKERS:
            continue
        if pos + 2 > len(data):
            return truncated
        pos += int.from_bytes(data[pos:pos + 2], "big")
        if pos > len(data):
            return truncated
        if marker == _START_OF_SCAN:
            found = _NEXT_MARKER.search(data, pos)
            if found is None:
                return truncated
            pos = found.start()


def _png_damage(data: bytes) -> Optional[str]:
    view = memoryview(data)
    pos = len(_PNG_SIGNATURE)
    while True:
        if pos + 8 > len(data):
            return "truncated PNG (it ends before its IEND chunk)"
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind = bytes(data[pos + 4:pos + 8])
        end = pos + 12 + length
        if end > len(data):
            return "truncated PNG (it ends before its IEND chunk)"
        if zlib.crc32(view[pos + 4:end - 4]) != int.from_bytes(data[end - 4:end], "big"):
            return f"damaged PNG (its {kind.decode('latin-1')} chunk fails its CRC check)"
        if kind == b"IEND":
            return None
        pos = end


def _length_damage(data: bytes, declared: int, kind: str) -> Optional[str]:
    if len(data) < declared:
        return f"truncated {kind} ({len(data)} of the {declared} bytes its header declares)"
    return None


def damage(data: bytes) -> Optional[str]:
    """Why the encoded image ``data`` is damaged, or None when its structure is whole.

    JPEG, PNG, WebP and BMP are checked (see the module docstring); other data gives None
    and is left to the decoder.
    """
    if data.startswith(_JPEG_START):
        return _jpeg_damage(data)
    if data.startswith(_PNG_SIGNATURE):
        return _png_damage(data)
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return _length_damage(data, 8 + int.from_bytes(data[4:8], "little"), "WebP")
    if data.startswith(b"BM") and len(data) >= 6:  # a size of 0 is allowed: "not given"
        return _length_damage(data, int.from_bytes(data[2:6], "little"), "BMP")
    return None


def _read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise DatasetError(path, "image file is missing") from None
    except OSError as err:
        raise DatasetError(path, f"unreadable image ({err.strerror or err})") from None


def decode_image(data: bytes, where: str) -> np.ndarray:
    """Encoded image bytes -> BGR ``uint8`` (EXIF orientation applied, as ``cv2.imread``
    does); a :class:`DatasetError` naming ``where`` when they are damaged or do not decode."""
    why = damage(data)
    if why:
        raise DatasetError(where, why)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError(where, "unreadable image")
    return image


def read_image_file(path: str) -> np.ndarray:
    """A photo from disk as BGR ``uint8``; a :class:`DatasetError` naming the file when it is
    missing, damaged (truncated JPEG, PNG failing its CRC) or does not decode."""
    return decode_image(_read_bytes(path), path)


def image_size(path: str, decode: bool = False) -> Tuple[int, int]:
    """``(width, height)`` of an image file, reading only its header unless ``decode``.

    ``decode=True`` reads it as training does (:func:`read_image_file`: the structure
    checked, every pixel decoded), which is what finds damaged files.
    """
    if decode:
        height, width = read_image_file(path).shape[:2]
        return width, height
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image.size
    except FileNotFoundError:
        raise DatasetError(path, "image file is missing") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise DatasetError(path, f"unreadable or truncated image ({err})") from None


def find_damaged(paths: Iterable[str]) -> List[Problem]:
    """A problem for each file of ``paths`` whose structure is damaged (:func:`damage`; no
    pixel is decoded, so this is quick enough to run over a dataset before training)."""
    problems = []
    for path in paths:
        why = damage(_read_bytes(path))
        if why:
            problems.append(Problem(path, why))
    return problems
