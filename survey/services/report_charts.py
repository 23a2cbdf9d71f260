"""Charts of a campaign's results (biểu đồ): matplotlib (Agg) on the server, no JavaScript.

Each function takes a :class:`~survey.services.results_tables.CampaignResults` and returns a
:class:`Chart`:

- :func:`unit_bars` — horizontal bars per unit with 95 % CI whiskers and the overall value;
- :func:`element_profile` — one unit's element indices against the overall values;
- :func:`trend` — the index over the campaigns of the same questionnaire, in time order;
- :func:`priority_matrix` — element satisfaction against the share wanting it improved.

``chart.svg()`` is sanitised SVG text to inline in a page under the app's CSP (no script, no
style attributes, ids prefixed; see :mod:`survey.services.svg_safe`); ``chart.svg_bytes()`` and
``chart.png()`` give the same figure for the PDF report.  ``chart.headers``/``chart.rows`` are
the text equivalent (a table for screen readers).  Labels use DejaVu Sans, shipped with
matplotlib, so Vietnamese renders the same everywhere.  Suppressed figures are never drawn;
low-n ones are drawn pale and named in the table.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from .svg_safe import inline_svg  # noqa: E402

BLUE, PALE, GREY, DARK, RED = "#0b4f8a", "#9fb7cf", "#5c6670", "#1a1a1a", "#b3261e"
TEXT = {
    "overall": ("Chung", "Overall"), "unit": ("Đơn vị", "Unit"),
    "estimate": ("Giá trị", "Estimate"), "ci": ("Khoảng tin cậy 95 %", "95 % CI"),
    "n": ("Số trả lời", "Answers"), "note": ("Ghi chú", "Note"),
    "low_n": ("ít phiếu, chỉ để tham khảo", "few answers, for reference only"),
    "element": ("Yếu tố", "Element"), "campaign": ("Đợt khảo sát", "Campaign"),
    "period": ("Thời gian", "Period"), "share": ("Muốn cải thiện (%)", "Want it improved (%)"),
    "satisfaction": ("Mức độ hài lòng", "Satisfaction"),
    "priority": ("ưu tiên cải thiện", "priority for improvement"),
}


def _t(key: str, lang: str) -> str:
    """A fixed chart word in the page language."""
    return TEXT[key][0 if lang == "vi" else 1]


def number(value: float | None, lang: str, digits: int = 1) -> str:
    """A number with a decimal comma in Vietnamese, or a dash."""
    if value is None or not math.isfinite(value):
        return "—"
    text = f"{value:,.{digits}f}"
    if lang == "vi":
        text = text.replace(",", " ").replace(".", ",").replace(" ", ".")
    return text


@dataclass(frozen=True, eq=False)
class Chart:
    """A figure with its title, description and text (table) equivalent."""

    key: str
    title: str
    description: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    draw: Callable[[], Figure] | None = field(default=None, repr=False)

    @property
    def empty(self) -> bool:
        """True when there is nothing to draw (the description says why)."""
        return self.draw is None

    def svg(self) -> str:
        """Sanitised SVG text for inlining in a page ('' when empty)."""
        if self.draw is None:
            return ""
        return inline_svg(self.svg_bytes().decode("utf-8"), f"chart-{self.key}",
                          title=self.title, description=self.description)

    def svg_bytes(self) -> bytes:
        """The figure as a standalone SVG file."""
        return self._save("svg")

    def png(self, dpi: int = 150) -> bytes:
        """The figure as PNG (for the PDF report)."""
        return self._save("png", dpi=dpi)

    def _save(self, fmt: str, **kwargs) -> bytes:
        """Render the figure once into ``fmt``."""
        if self.draw is None:
            raise ValueError("empty chart: nothing to draw")
        buf = io.BytesIO()
        figure = self.draw()
        figure.savefig(buf, format=fmt, metadata={"Date": None} if fmt == "svg" else None,
                       **kwargs)
        return buf.getvalue()


def _figure(width: float, height: float) -> Figure:
    """A figure (not registered with pyplot, so it is freed with its last reference)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    fig.set_facecolor("white")
    return fig


def _axis_range(indicator) -> tuple[float, float]:
    """The indicator's natural range (0–100 %, or a PAPI score's L–U)."""
    return indicator.low, indicator.high


def _label(label: dict[str, str], lang: str) -> str:
    """A label in the page language."""
    return label.get(lang) or label.get("vi") or ""


def _short(text: str, width: int = 34) -> str:
    """Shorten long names for an axis."""
    return text if len(text) <= width else text[:width - 1] + "…"


def unit_bars(results, indicator: str | None = None, lang: str = "vi") -> Chart:
    """Horizontal bars per unit with 95 % CI whiskers; the overall value as a dashed line."""
    code = indicator or results.root
    ind = results.indicator(code)
    table = results.table("unit")
    rows = [] if table is None else [table.row(d, code) for d, _ in table.domains]
    rows = sorted((r for r in rows if r is not None and r.shown and r.estimate is not None),
                  key=lambda r: r.estimate)
    overall = results.overall_row(code)
    title = f"{_label(ind.label, lang)} — " + ("theo đơn vị" if lang == "vi" else "by unit")
    text_rows = tuple((_label(r.label, lang), number(r.estimate, lang),
                       f"{number(r.lo, lang)} – {number(r.hi, lang)}", str(r.n_answered),
                       _t("low_n", lang) if r.greyed else "") for r in reversed(rows))
    headers = (_t("unit", lang), _t("estimate", lang), _t("ci", lang), _t("n", lang),
               _t("note", lang))
    hidden = 0 if table is None else len(table.domains) - len(rows)
    desc = (f"{len(rows)} đơn vị, thanh ngang là giá trị ước lượng, vạch là khoảng tin cậy 95 %"
            if lang == "vi" else
            f"{len(rows)} units; bars are estimates, whiskers 95 % confidence intervals")
    if overall is not None and overall.estimate is not None:
        desc += (f"; đường đứt nét: giá trị chung {number(overall.estimate, lang)}" if lang == "vi"
                 else f"; dashed line: overall {number(overall.estimate, lang)}")
    if hidden:
        desc += (f"; {hidden} đơn vị không công bố vì quá ít phiếu" if lang == "vi"
                 else f"; {hidden} units not shown (too few answers)")
    if not rows:
        return Chart("units", title, desc + ".", headers, text_rows)

    def draw() -> Figure:
        fig = _figure(7.5, 0.9 + 0.34 * len(rows))
        ax = fig.add_subplot()
        y = list(range(len(rows)))
        colours = [PALE if r.greyed else BLUE for r in rows]
        ax.barh(y, [r.estimate for r in rows], color=colours, height=0.62)
        lows = [max(r.estimate - (r.lo if r.lo is not None else r.estimate), 0) for r in rows]
        highs = [max((r.hi if r.hi is not None else r.estimate) - r.estimate, 0) for r in rows]
        ax.errorbar([r.estimate for r in rows], y, xerr=[lows, highs], fmt="none",
                    ecolor=DARK, elinewidth=1, capsize=3)
        if overall is not None and overall.estimate is not None:
            ax.axvline(overall.estimate, color=RED, linestyle="--", linewidth=1.2,
                       label=f"{_t('overall', lang)} {number(overall.estimate, lang)}")
            ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), fontsize=8,
                      frameon=False)
        ax.set_yticks(y, [_short(_label(r.label, lang)) + (" *" if r.greyed else "")
                          for r in rows], fontsize=8)
        ax.set_xlim(*_axis_range(ind))
        ax.set_xlabel(ind.unit or _t("estimate", lang), fontsize=8)
        ax.tick_params(axis="x", labelsize=8)
        ax.spines[["top", "right"]].set_visible(False)
        return fig

    return Chart("units", title, desc + ".", headers, text_rows, draw)


def element_profile(results, unit: str, lang: str = "vi") -> Chart:
    """One unit's element indices (bars with CI) against the overall values (diamonds)."""
    elements = [i for i in results.indicators if i.parent == results.root and i.kind == "group"]
    table = results.table("unit")
    name = next((_label(lab, lang) for d, lab in (table.domains if table else ()) if d == unit),
                unit)
    pairs = []
    for ind in elements:
        mine = table.row(unit, ind.code) if table else None
        pairs.append((ind, mine if mine is not None and mine.shown else None,
                      results.overall_row(ind.code)))
    title = (f"Các yếu tố: {name} so với chung" if lang == "vi"
             else f"Elements: {name} against overall")
    headers = (_t("element", lang), name, _t("ci", lang), _t("overall", lang), _t("note", lang))
    text_rows = tuple((_label(i.label, lang), number(m.estimate if m else None, lang),
                       f"{number(m.lo, lang)} – {number(m.hi, lang)}" if m else "—",
                       number(o.estimate if o else None, lang),
                       _t("low_n", lang) if m and m.greyed else "") for i, m, o in pairs)
    desc = ("Thanh: giá trị của đơn vị với khoảng tin cậy 95 %; hình thoi: giá trị chung."
            if lang == "vi" else "Bars: the unit's values with 95 % CI; diamonds: overall.")
    drawable = [(i, m, o) for i, m, o in pairs if m is not None and m.estimate is not None]
    if not drawable:
        return Chart(f"profile-{unit}", title, desc, headers, text_rows)

    def draw() -> Figure:
        fig = _figure(7.5, 1.0 + 0.45 * len(pairs))
        ax = fig.add_subplot()
        y = list(range(len(pairs)))[::-1]
        for pos, (_ind, mine, over) in zip(y, pairs, strict=True):
            if mine is not None and mine.estimate is not None:
                ax.barh(pos, mine.estimate, color=PALE if mine.greyed else BLUE, height=0.55)
                ax.errorbar(mine.estimate, pos, xerr=[[mine.estimate - (mine.lo or mine.estimate)],
                                                      [(mine.hi or mine.estimate) - mine.estimate]],
                            fmt="none", ecolor=DARK, elinewidth=1, capsize=3)
            if over is not None and over.estimate is not None:
                ax.plot(over.estimate, pos, marker="D", color=RED, markersize=6,
                        linestyle="none")
        ax.set_yticks(y, [_short(_label(i.label, lang), 40) for i, _, _ in pairs], fontsize=8)
        ax.legend(handles=[Patch(color=BLUE, label=_short(name, 40)),
                           Line2D([], [], marker="D", color=RED, linestyle="none",
                                  label=_t("overall", lang))],
                  loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, fontsize=8,
                  frameon=False)
        ind0 = pairs[0][0]
        ax.set_xlim(*_axis_range(ind0))
        ax.tick_params(axis="x", labelsize=8)
        ax.spines[["top", "right"]].set_visible(False)
        return fig

    return Chart(f"profile-{unit}", title, desc, headers, text_rows, draw)


def trend(results, indicator: str | None = None, lang: str = "vi") -> Chart:
    """The indicator over the campaigns of the same questionnaire, oldest first, with CIs."""
    code = indicator or results.root
    ind = results.indicator(code)
    points = [(p, p.row(code)) for p in results.trend]
    points = [(p, r) for p, r in points if r is not None and r.shown and r.estimate is not None]
    title = (f"{_label(ind.label, lang)} qua các đợt khảo sát" if lang == "vi"
             else f"{_label(ind.label, lang)} over the campaigns")
    headers = (_t("campaign", lang), _t("period", lang), _t("estimate", lang), _t("ci", lang),
               _t("n", lang))
    text_rows = tuple((p.name, f"{p.period[0]} – {p.period[1]}", number(r.estimate, lang),
                       f"{number(r.lo, lang)} – {number(r.hi, lang)}", str(r.n_answered))
                      for p, r in points)
    desc = (f"{len(points)} đợt khảo sát cùng bộ phiếu, theo thời gian; vạch là khoảng tin cậy "
            "95 %." if lang == "vi" else
            f"{len(points)} campaigns of the same questionnaire in time order; whiskers are "
            "95 % confidence intervals.")
    if len(points) < 2:
        desc += (" Cần ít nhất hai đợt khảo sát để vẽ xu hướng." if lang == "vi"
                 else " At least two campaigns are needed for a trend.")
        return Chart("trend", title, desc, headers, text_rows)

    def draw() -> Figure:
        fig = _figure(7.5, 3.2)
        ax = fig.add_subplot()
        x = list(range(len(points)))
        est = [r.estimate for _, r in points]
        ax.errorbar(x, est, yerr=[[e - (r.lo if r.lo is not None else e) for e, (_, r)
                                   in zip(est, points, strict=True)],
                                  [(r.hi if r.hi is not None else e) - e for e, (_, r)
                                   in zip(est, points, strict=True)]],
                    color=BLUE, ecolor=DARK, marker="o", capsize=4, linewidth=1.5)
        ax.set_xticks(x, [_short(p.name, 22) for p, _ in points], fontsize=8)
        ax.set_ylim(*_axis_range(ind))
        ax.set_ylabel(ind.unit or _t("estimate", lang), fontsize=8)
        ax.tick_params(axis="y", labelsize=8)
        ax.spines[["top", "right"]].set_visible(False)
        return fig

    return Chart("trend", title, desc, headers, text_rows, draw)


def priority_matrix(results, lang: str = "vi") -> Chart:
    """Satisfaction (x) against the share wanting each element improved (y)."""
    shares = [s for s in results.improvement if s.satisfaction is not None]
    title = ("Ma trận ưu tiên: mức độ hài lòng và mong muốn cải thiện" if lang == "vi"
             else "Priority matrix: satisfaction and wish for improvement")
    headers = (_t("element", lang), _t("satisfaction", lang), _t("share", lang),
               _t("note", lang))
    if shares:
        mid_x = sum(s.satisfaction for s in shares) / len(shares)
        mid_y = sum(s.share for s in shares) / len(shares)
    else:
        mid_x = mid_y = 0.0
    text_rows = tuple((_label(s.label, lang), number(s.satisfaction, lang),
                       number(s.share, lang),
                       _t("priority", lang) if s.satisfaction < mid_x and s.share > mid_y else "")
                      for s in shares)
    desc = ("Mỗi điểm là một yếu tố: trục ngang là chỉ số hài lòng, trục dọc là tỷ lệ người "
            "trả lời muốn yếu tố đó được ưu tiên cải thiện; góc trên bên trái (hài lòng thấp, "
            "nhiều người muốn cải thiện) là ưu tiên." if lang == "vi" else
            "Each point is an element: satisfaction index across, share of respondents wanting "
            "it improved first up; the top-left corner (low satisfaction, many wanting "
            "improvement) is the priority.")
    if not shares:
        desc += (" Chưa có câu trả lời cho câu hỏi về nội dung cần cải thiện." if lang == "vi"
                 else " No answers yet to the question on what to improve.")
        return Chart("priority", title, desc, headers, text_rows)
    n = shares[0].n_answered
    desc += (f" {n} người trả lời câu hỏi này." if lang == "vi" else f" {n} answered it.")

    def draw() -> Figure:
        fig = _figure(6.5, 4.2)
        ax = fig.add_subplot()
        xs, ys = [s.satisfaction for s in shares], [s.share for s in shares]
        ax.scatter(xs, ys, color=BLUE, s=40, zorder=3)
        for s in shares:
            ax.annotate(_short(_label(s.label, lang), 28), (s.satisfaction, s.share),
                        textcoords="offset points", xytext=(5, 4), fontsize=7)
        ax.axvline(mid_x, color=GREY, linestyle=":", linewidth=1)
        ax.axhline(mid_y, color=GREY, linestyle=":", linewidth=1)
        ax.set_xlabel(_t("satisfaction", lang), fontsize=8)
        ax.set_ylabel(_t("share", lang), fontsize=8)
        ax.text(0.01, 0.98, _t("priority", lang), transform=ax.transAxes, fontsize=7,
                color=RED, va="top")
        pad_x = max(2.0, (max(xs) - min(xs)) * 0.15)
        ax.set_xlim(min(xs) - pad_x, max(xs) + pad_x * 2)
        ax.set_ylim(0, max(max(ys) * 1.2, 10))
        ax.tick_params(labelsize=8)
        ax.spines[["top", "right"]].set_visible(False)
        return fig

    return Chart("priority", title, desc, headers, text_rows, draw)
