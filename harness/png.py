"""Reading back the PNGs headless Chromium renders (no Pillow in the lock): zlib + struct."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path


def png_rows(path: Path, limit: int | None = None) -> tuple[int, int, list[bytes]]:
    """Width, height and the first ``limit`` (default: all) unfiltered scanlines of an 8-bit
    RGB(A) PNG, as RGB bytes (alpha dropped)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (size,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + size]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        pos += 12 + size
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header[:13])
    assert depth == 8 and colour in (2, 6) and interlace == 0
    bpp = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    rows, prev = [], bytes(stride)
    for y in range(height if limit is None else min(limit, height)):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        if kind == 2:
            line = bytearray((v + b) & 255 for v, b in zip(line, prev, strict=True))
        elif kind in (1, 3, 4):
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], prev[i - bpp] if i >= bpp else 0
                if kind == 1:
                    line[i] = (line[i] + a) & 255
                elif kind == 3:
                    line[i] = (line[i] + (a + b) // 2) & 255
                else:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    line[i] = (line[i] + (a if pa <= pb and pa <= pc
                                          else b if pb <= pc else c)) & 255
        prev = bytes(line)
        if bpp == 3:
            rows.append(prev)
        else:
            rgb = bytearray(width * 3)
            for channel in range(3):
                rgb[channel::3] = prev[channel::4]
            rows.append(bytes(rgb))
    return width, height, rows


def pixels(rows: list[bytes]) -> list[bytes]:
    """Every pixel of ``rows`` as 3 RGB bytes."""
    return [row[i:i + 3] for row in rows for i in range(0, len(row), 3)]
