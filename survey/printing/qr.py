"""QR matrices for short URLs, drawn into a PDF as filled rectangles (sharp at any size)."""

from __future__ import annotations

import qrcode
from qrcode.constants import ERROR_CORRECT_M

# Version 4 (33×33 modules) holds a 62-byte URL at level M; small enough that a 2 cm print
# still has modules of 0.6 mm, which a cheap phone camera resolves.
MAX_QR_VERSION = 4


class QrTooLong(ValueError):
    """The URL needs a QR version above 4: shorten SIPAS_PUBLIC_BASE_URL."""


def qr_matrix(data: str) -> list[list[bool]]:
    """Modules of the QR code for ``data`` (level M, no quiet zone); refuses versions above 4."""
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=0)
    qr.add_data(data)
    qr.make(fit=True)
    if qr.version > MAX_QR_VERSION:
        raise QrTooLong(f"{data!r} needs QR version {qr.version} (> {MAX_QR_VERSION}); "
                        "use a shorter public base URL")
    return qr.get_matrix()


def qr_version(data: str) -> int:
    """The QR version qrcode picks for ``data`` at level M."""
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=0)
    qr.add_data(data)
    qr.make(fit=True)
    return qr.version


def dark_runs(matrix: list[list[bool]]) -> list[tuple[int, int, int]]:
    """Horizontal runs of dark modules as (row, first column, length): fewer shapes to draw."""
    runs = []
    for r, row in enumerate(matrix):
        c, n = 0, len(row)
        while c < n:
            if row[c]:
                start = c
                while c < n and row[c]:
                    c += 1
                runs.append((r, start, c - start))
            else:
                c += 1
    return runs


def draw_qr(pdf, matrix: list[list[bool]], x: float, y: float, size: float) -> None:
    """Draw ``matrix`` as a ``size``-mm square at (x, y) in black (quiet zone left to the layout)."""
    module = size / len(matrix)
    pdf.set_fill_color(0, 0, 0)
    for r, c, n in dark_runs(matrix):
        # A hair of overlap so that viewers do not show seams between neighbouring runs.
        pdf.rect(x + c * module, y + r * module, n * module, module * 1.02, style="F")
