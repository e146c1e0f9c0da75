"""The pixel size an image file's header claims (PNG, JPEG, BMP, TIFF), read without decoding.

A header may claim far more pixels than its file holds (a decompression bomb); readers check
the claim before a decoder allocates memory for it.
"""

from __future__ import annotations

import struct

_PNG = b"\x89PNG\r\n\x1a\n"
#: JPEG start-of-frame markers (every SOFn but DHT C4, JPG C8 and DAC CC), whose segment holds the size
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
#: JPEG markers without a length field
_BARE = {0x01, 0xD8, *range(0xD0, 0xD8)}


def _png(data) -> tuple[int, int] | None:
    return struct.unpack_from(">II", data, 16) if bytes(data[12:16]) == b"IHDR" else None


def _jpeg(data) -> tuple[int, int] | None:
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
        elif marker in _BARE:
            pos += 2
        elif marker in _SOF:
            height, width = struct.unpack_from(">HH", data, pos + 5)
            return width, height
        else:
            pos += 2 + struct.unpack_from(">H", data, pos + 2)[0]
    return None


def _bmp(data) -> tuple[int, int] | None:
    if struct.unpack_from("<I", data, 14)[0] == 12:  # OS/2 BITMAPCOREHEADER
        return struct.unpack_from("<HH", data, 18)
    width, height = struct.unpack_from("<ii", data, 18)
    return abs(width), abs(height)


def _tiff(data) -> tuple[int, int] | None:
    """The first image's size (its directory may lie anywhere in the file); None for BigTIFF."""
    order = "<" if bytes(data[:2]) == b"II" else ">"
    first = struct.unpack_from(order + "I", data, 4)[0]
    size = {}
    for k in range(struct.unpack_from(order + "H", data, first)[0]):
        tag, kind = struct.unpack_from(order + "HH", data, first + 2 + 12 * k)
        if tag in (256, 257):  # ImageWidth, ImageLength: SHORT or LONG
            size[tag] = struct.unpack_from(order + ("H" if kind == 3 else "I"), data, first + 10 + 12 * k)[0]
    return (size[256], size[257]) if len(size) == 2 else None


_FORMATS = ((_PNG, _png), (b"\xff\xd8", _jpeg), (b"BM", _bmp), (b"II*\0", _tiff), (b"MM\0*", _tiff))


def dimensions(data) -> tuple[int, int] | None:
    """(width, height) that the header of a file's bytes (a buffer: bytes, uint8 array) claims;
    None for another format or a header cut short."""
    start = bytes(data[:8])
    for magic, read in _FORMATS:
        if start.startswith(magic):
            try:
                return read(data)
            except struct.error:
                return None
    return None
