"""QR matrices for short URLs, drawn into a PDF as filled rectangles (sharp at any size).

The matrices come from ``segno`` (about twice as fast as ``qrcode`` at choosing the best of the
eight masks, which is most of the time a 1,000-slip sheet takes); the API's PNG/SVG images use
``qrcode``. Both pick the smallest version for the URL at level M.
"""

from __future__ import annotations

import segno

# Version 4 (33×33 modules) holds a 62-byte URL at level M; small enough that a 2 cm print
# still has modules of 0.6 mm, which a cheap phone camera resolves.
MAX_QR_VERSION = 4


class QrTooLong(ValueError):
    """The URL needs a QR version above 4: shorten SIPAS_PUBLIC_BASE_URL."""


def _encode(data: str) -> segno.QRCode:
    """The QR code for ``data`` at level M, never a Micro QR, no error-level boost."""
    return segno.make_qr(data, error="m", boost_error=False)


def qr_version(data: str) -> int:
    """The QR version ``data`` needs at level M."""
    return _encode(data).version


def qr_matrix(data: str) -> list[bytearray]:
    """Rows of modules (1 = dark) for ``data``, no quiet zone; refuses versions above 4."""
    qr = _encode(data)
    if qr.version > MAX_QR_VERSION:
        raise QrTooLong(f"{data!r} needs QR version {qr.version} (> {MAX_QR_VERSION}); "
                        "use a shorter public base URL")
    return list(qr.matrix)


def dark_runs(matrix) -> list[tuple[int, int, int]]:
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


def draw_qr(pdf, matrix, x: float, y: float, size: float) -> None:
    """Draw ``matrix`` as a ``size``-mm black square at (x, y); the layout leaves the quiet zone.

    All runs go out as one filled path of ``re`` operators: a thousand slips hold about 250,000
    rectangles, and one ``FPDF.rect`` call each would cost more than the QR encoding itself.
    """
    k, module = pdf.k, size / len(matrix)
    top = pdf.h - y
    ops = [f"{(x + c * module) * k:.2f} {(top - r * module) * k:.2f} {n * module * k:.2f} "
           f"{-module * 1.02 * k:.2f} re" for r, c, n in dark_runs(matrix)]
    # q … Q keeps the black fill local; the slight overlap hides seams between rows in viewers.
    pdf._out("q 0 g " + " ".join(ops) + " f Q")  # noqa: SLF001 - fpdf2's raw content stream
