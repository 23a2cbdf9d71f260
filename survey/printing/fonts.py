"""The embedded font: DejaVu (full Vietnamese coverage), shipped inside matplotlib's package data.

Debian's ``fonts-dejavu-core`` is the fallback, so printing needs no system package when
matplotlib is installed (it is a dependency of the project).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

FILES = {"sans": "DejaVuSans.ttf", "sans-bold": "DejaVuSans-Bold.ttf",
         "mono-bold": "DejaVuSansMono-Bold.ttf"}
SYSTEM_DIR = Path("/usr/share/fonts/truetype/dejavu")


class FontMissing(RuntimeError):
    """No DejaVu font file was found."""


@cache
def font_dir() -> Path:
    """The folder holding the DejaVu TTF files."""
    candidates = []
    try:
        import matplotlib
        candidates.append(Path(matplotlib.get_data_path()) / "fonts" / "ttf")
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        pass
    candidates.append(SYSTEM_DIR)
    for folder in candidates:
        if all((folder / name).is_file() for name in FILES.values()):
            return folder
    raise FontMissing("DejaVu fonts not found: install matplotlib or fonts-dejavu-core")


def add_fonts(pdf) -> None:
    """Register the three faces on an FPDF document as 'sans', 'sans' bold and 'mono' bold."""
    folder = font_dir()
    pdf.add_font("sans", "", str(folder / FILES["sans"]))
    pdf.add_font("sans", "B", str(folder / FILES["sans-bold"]))
    pdf.add_font("mono", "B", str(folder / FILES["mono-bold"]))
