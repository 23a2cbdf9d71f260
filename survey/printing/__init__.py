"""Printable QR material as PDF: A4 posters, A4 sheets of slips, 80 mm thermal receipts.

Pure rendering: a list of :class:`PrintItem` in, PDF bytes out; no database, no Flask. The
use-case around it (which codes, audit log) is ``survey.services.printing``.
"""

from .layouts import PrintItem, render, render_poster, render_receipts, render_slips
from .qr import MAX_QR_VERSION, QrTooLong, qr_matrix

KINDS = ("poster", "slips", "receipt")

__all__ = ["KINDS", "MAX_QR_VERSION", "PrintItem", "QrTooLong", "qr_matrix", "render",
           "render_poster", "render_receipts", "render_slips"]
