"""Server-side SVG charts: no JavaScript, no external assets, printable, and allowed by the CSP.

Only presentation attributes are used (no ``style`` attributes: the CSP allows no inline styles).
Every chart carries a ``<title>``/``<desc>`` and the page shows the same numbers as a table.
"""

from __future__ import annotations

import math
from datetime import date

from markupsafe import Markup, escape

WIDTH, HEIGHT = 960, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 14, 34
BAR, AXIS, GRID, TEXT = "#0b4f8a", "#5c6670", "#dde3e9", "#1a1a1a"


def nice_ceiling(value: int) -> tuple[int, int]:
    """A round axis maximum ≥ ``value`` and its tick step (1, 2 or 5 × 10^k; at most 5 ticks)."""
    if value <= 0:
        return 1, 1
    raw = value / 4
    power = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    for factor in (1, 2, 5, 10):
        step = max(1, int(factor * power))
        if step * 4 >= value or factor == 10:
            break
    top = step * math.ceil(value / step)
    return top, step


def thousands(n: int) -> str:
    """An integer with Vietnamese thousands separators (1.234)."""
    return f"{n:,}".replace(",", ".")


def daily_bars(days: list[tuple[date, int]], *, title: str, description: str,
               chart_id: str = "daily") -> Markup:
    """Bars of a count per day; x labels at month starts (or weekly for short periods)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    peak = max((n for _, n in days), default=0)
    top, step = nice_ceiling(peak)
    slot = plot_w / max(1, len(days))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
        f'height="{HEIGHT}" role="img" aria-labelledby="{chart_id}-t {chart_id}-d" '
        f'font-family="system-ui, sans-serif" font-size="11">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(description)}</desc>',
    ]
    for tick in range(0, top + 1, step):
        y = TOP + plot_h - plot_h * tick / top
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="{GRID}" stroke-width="1"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{TEXT}">'
                     f'{thousands(tick)}</text>')
    for i, (day, n) in enumerate(days):
        if n:
            h = plot_h * n / top
            parts.append(f'<rect x="{LEFT + i * slot + slot * 0.1:.2f}" y="{TOP + plot_h - h:.2f}" '
                         f'width="{max(slot * 0.8, 0.6):.2f}" height="{h:.2f}" fill="{BAR}">'
                         f'<title>{day.strftime("%d/%m/%Y")}: {n}</title></rect>')
    for i, day in _labelled(days):
        x = LEFT + i * slot + slot / 2
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP + plot_h}" y2="{TOP + plot_h + 4}" '
                     f'stroke="{AXIS}"/>')
        parts.append(f'<text x="{x:.1f}" y="{TOP + plot_h + 17}" text-anchor="middle" fill="{TEXT}">'
                     f'{day.strftime("%d/%m")}</text>')
    parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}" '
                 f'stroke="{AXIS}" stroke-width="1"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _labelled(days: list[tuple[date, int]]) -> list[tuple[int, date]]:
    """Which days get an x label: the 1st of each month for long periods, else every 7th day."""
    if len(days) > 62:
        return [(i, d) for i, (d, _) in enumerate(days) if d.day == 1]
    every = 1 if len(days) <= 14 else 7
    return [(i, d) for i, (d, _) in enumerate(days) if i % every == 0]
