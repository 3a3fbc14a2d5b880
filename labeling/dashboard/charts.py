"""Small accessible charts rendered as inline SVG strings.

The manager dashboard is server-rendered and ships no JavaScript chart
library, so every chart is an ``<svg>`` string built here and dropped into a
template with ``|safe``. That makes this module the escaping boundary: every
text that comes from data (labels, series names, titles, CSS classes, colors)
goes through :func:`_esc` before it reaches the markup. Model versions and
strategy names are user-controlled.

Every chart shares the same root: ``role="img"``, an ``aria-label`` and a
``<title>`` with the chart's title, a ``<desc>`` summarising the data for
screen readers, a ``viewBox`` with ``width="100%"`` so it scales with its
container, the classes ``chart`` and ``chart-<kind>`` and a ``data-chart``
attribute naming the kind (``bar``, ``hbar``, ``line``, ``stack``). Each drawn
mark (bar, point, segment) has a ``<title>`` child reading ``label: value`` so
hovering shows the number. Marks carry classes (``series-0``, ``series-1``, ...
or the caller's class, e.g. ``rating-pos``) for a stylesheet to hook onto, and
explicit fill colors so the chart reads fine without one. Empty data renders a
small chart saying "No data yet" instead of failing.

Coordinates are rounded to one decimal so the output is deterministic. The
module is pure: standard library only, no Django.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "PALETTE",
    "RATING_COLORS",
    "bar_chart",
    "hbar_chart",
    "line_chart",
    "nice_ticks",
    "stacked_bar",
]

#: Calm categorical palette; series ``i`` uses ``PALETTE[i % len(PALETTE)]``.
PALETTE: tuple[str, ...] = ("#1f5fbf", "#e07b00", "#2e8b57", "#8e44ad", "#b42318", "#5d6875")

#: Colors for the step-rating classes used by :func:`stacked_bar`.
RATING_COLORS: dict[str, str] = {
    "rating-pos": "#2e8b57",
    "rating-neu": "#8a94a3",
    "rating-neg": "#b42318",
}

EMPTY_TEXT = "No data yet"

_TEXT_COLOR = "#3b4450"
_MUTED_COLOR = "#5d6875"
_AXIS_COLOR = "#8a94a3"
_GRID_COLOR = "#e3e6ea"
_FONT_FAMILY = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
_FONT_SIZE = 11
_CHAR_W = 6.5  # generous average glyph width at _FONT_SIZE, for layout estimates
_EMPTY_HEIGHT = 48
_MAX_DESC_ITEMS = 40

# Characters XML 1.0 forbids even when escaped; they would make the SVG unparseable.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_CLASS_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


# --------------------------------------------------------------------------- helpers


def _esc(value: object) -> str:
    """XML-escape a data-derived text (quotes included) for text or attribute use."""
    return html.escape(_XML_ILLEGAL.sub("", str(value)), quote=True)


def _n(value: float) -> str:
    """A coordinate rounded to one decimal, without a trailing ``.0``."""
    text = f"{value:.1f}"
    if text.endswith(".0"):
        text = text[:-2]
    return "0" if text == "-0" else text


def _fmt(value_format: str, value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return value_format.format(value)


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _truncate(label: str, max_chars: int) -> str:
    """Shorten ``label`` to ``max_chars`` characters, ending with an ellipsis when cut."""
    if len(label) <= max_chars:
        return label
    if max_chars <= 1:
        return "…"
    return label[: max_chars - 1].rstrip() + "…"


def _text_width(text: str) -> float:
    return len(text) * _CHAR_W


def _css_class(value: str) -> str:
    """Keep only characters that are safe in a class token (each space-separated token)."""
    tokens = (_CLASS_UNSAFE.sub("-", token) for token in str(value).split())
    return " ".join(token for token in tokens if token)


def _color(index: int, colors: Sequence[str] | None = None) -> str:
    palette = colors if colors else PALETTE
    return palette[index % len(palette)]


def _label_text(x: float, y: float, label: str, shown: str, **attrs: str) -> str:
    """A ``<text>``; when ``shown`` is truncated, the full label goes into its ``<title>``."""
    extra = "".join(f' {key.rstrip("_").replace("_", "-")}="{val}"' for key, val in attrs.items())
    title = f"<title>{_esc(label)}</title>" if shown != label else ""
    return f'<text x="{_n(x)}" y="{_n(y)}"{extra}>{title}{_esc(shown)}</text>'


def _root(kind: str, title: str, width: float, height: float, body: Iterable[str], desc: str = "") -> str:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" data-chart="{kind}" '
        f'role="img" aria-label="{_esc(title)}" viewBox="0 0 {_n(width)} {_n(height)}" '
        f'width="100%" preserveAspectRatio="xMidYMid meet" '
        f'font-family="{_FONT_FAMILY}" font-size="{_FONT_SIZE}" fill="{_TEXT_COLOR}">'
        f"<title>{_esc(title)}</title>"
    )
    desc_el = f"<desc>{_esc(desc)}</desc>" if desc else ""
    return head + desc_el + "".join(body) + "</svg>"


def _empty(kind: str, title: str, width: float, message: str = EMPTY_TEXT) -> str:
    text = (
        f'<text class="chart-empty" x="{_n(width / 2)}" y="{_n(_EMPTY_HEIGHT / 2)}" '
        f'text-anchor="middle" dominant-baseline="middle" fill="{_MUTED_COLOR}">{_esc(message)}</text>'
    )
    return _root(kind, title, width, _EMPTY_HEIGHT, [text], desc=message)


def _summary(pairs: Iterable[str]) -> str:
    pairs = list(pairs)
    if len(pairs) > _MAX_DESC_ITEMS:
        pairs = [*pairs[:_MAX_DESC_ITEMS], f"and {len(pairs) - _MAX_DESC_ITEMS} more"]
    return "; ".join(pairs)


def _legend(
    entries: Sequence[tuple[str, str, str]], x0: float, y0: float, width: float, swatch: str = "rect"
) -> tuple[str, float]:
    """Lay legend entries ``(css_class, color, text)`` out in wrapping rows.

    Returns ``(svg, height)``.
    """
    row_h = 16
    gap = 14
    sw = 12
    x, y = x0, y0
    parts = ['<g class="legend">']
    rows = 1
    for css, color, text in entries:
        item_w = sw + 5 + _text_width(text)
        if x > x0 and x + item_w > x0 + width:
            x = x0
            y += row_h
            rows += 1
        mid = y + row_h / 2
        if swatch == "line":
            mark = (
                f'<line class="swatch {_esc(css)}" x1="{_n(x)}" y1="{_n(mid)}" x2="{_n(x + sw)}" y2="{_n(mid)}" '
                f'stroke="{_esc(color)}" stroke-width="2.5"/>'
            )
        else:
            mark = (
                f'<rect class="swatch {_esc(css)}" x="{_n(x)}" y="{_n(mid - 5)}" width="10" height="10" rx="2" '
                f'fill="{_esc(color)}"/>'
            )
        parts.append(
            f'<g class="legend-item">{mark}<text x="{_n(x + sw + 5)}" y="{_n(mid)}" dy="0.35em">{_esc(text)}</text></g>'
        )
        x += item_w + gap
    parts.append("</g>")
    return "".join(parts), rows * row_h


# --------------------------------------------------------------------------- ticks


def _nice_step(raw: float) -> float:
    exp = math.floor(math.log10(raw))
    base = 10.0**exp
    for mult in (1, 2, 5, 10):
        if mult * base >= raw * (1 - 1e-9):
            return mult * base
    return 10 * base  # pragma: no cover - the loop always returns


def _next_nice(step: float) -> float:
    return _nice_step(step * 1.000001)


def nice_ticks(vmax: float, n: int = 5, *, vmin: float = 0.0) -> list[float]:
    """Evenly spaced "nice" tick values covering ``[vmin, vmax]``.

    The step is 1, 2 or 5 times a power of ten, chosen so that there are at
    most ``n`` intervals; the first and last ticks are multiples of the step
    enclosing the range. ``nice_ticks(87, 5) == [0, 20, 40, 60, 80, 100]``.
    Ticks are ints when the step is a whole number. A degenerate range (for
    example all zeros) is widened so that at least two ticks come back.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    if not (math.isfinite(vmax) and math.isfinite(vmin)):
        raise ValueError("nice_ticks needs finite bounds")
    lo, hi = min(vmin, vmax), max(vmin, vmax)
    if hi == lo:
        if hi == 0:
            hi = 1.0
        else:
            pad = abs(hi) / 2
            lo, hi = lo - pad, hi + pad
    step = _nice_step((hi - lo) / n)
    while True:
        first = math.floor(lo / step + 1e-9)
        last = math.ceil(hi / step - 1e-9)
        if last - first <= n:
            break
        step = _next_nice(step)
    decimals = max(0, -math.floor(math.log10(step)) + 1)
    integral = step >= 1 and float(step).is_integer()
    ticks: list[float] = []
    for i in range(first, last + 1):
        value = round(i * step, decimals)
        ticks.append(int(value) if integral else value + 0.0)  # + 0.0 turns -0.0 into 0.0
    return ticks


def _tick_label(value: float) -> str:
    return f"{value:g}"


# --------------------------------------------------------------------------- bar chart


def bar_chart(
    items: Sequence[tuple[str, float]],
    *,
    title: str,
    width: int = 480,
    height: int = 200,
    value_format: str = "{:g}",
    colors: Sequence[str] | None = None,
) -> str:
    """Vertical bars, one per ``(label, value)``, with a y axis and value labels.

    Bars start at zero (negative values go below the zero line). Long x labels
    are truncated with an ellipsis; the full label stays in the bar's
    ``<title>``. Without ``colors`` every bar is ``series-0``; with ``colors``
    bar ``i`` uses ``colors[i % len(colors)]`` and class ``series-<that index>``.
    Non-finite or missing values draw no bar and read "n/a".
    """
    items = list(items)
    if not items:
        return _empty("bar", title, width)

    values = [float(v) if _finite(v) else None for _, v in items]
    finite = [v for v in values if v is not None]
    vmax = max([0.0, *finite])
    vmin = min([0.0, *finite])
    ticks = nice_ticks(vmax, 4, vmin=vmin)
    lo, hi = ticks[0], ticks[-1]
    tick_labels = [_tick_label(t) for t in ticks]

    top, right, bottom = 18.0, 8.0, 22.0
    left = max(28.0, max(_text_width(t) for t in tick_labels) + 12)
    plot_w = max(1.0, width - left - right)
    plot_h = max(1.0, height - top - bottom)

    def y_of(value: float) -> float:
        return top + plot_h * (hi - value) / (hi - lo)

    body: list[str] = ['<g class="axis y-axis">']
    for tick, text in zip(ticks, tick_labels, strict=True):
        y = y_of(tick)
        body.append(
            f'<line class="grid" x1="{_n(left)}" y1="{_n(y)}" x2="{_n(width - right)}" y2="{_n(y)}" '
            f'stroke="{_GRID_COLOR}" stroke-width="1"/>'
            f'<text class="tick y-tick" x="{_n(left - 6)}" y="{_n(y)}" dy="0.32em" text-anchor="end" '
            f'fill="{_MUTED_COLOR}">{_esc(text)}</text>'
        )
    body.append("</g>")

    slot = plot_w / len(items)
    bar_w = min(slot * 0.7, 56.0)
    max_chars = min(12, int(slot // _CHAR_W))
    y0 = y_of(0.0)
    bars: list[str] = ['<g class="bars">']
    labels: list[str] = ['<g class="axis x-axis">']
    for i, ((label, _), value) in enumerate(zip(items, values, strict=True)):
        label = str(label)
        idx = i % len(colors) if colors else 0
        color = _color(idx, colors)
        cx = left + slot * (i + 0.5)
        shown_value = _fmt(value_format, value)
        if value is not None:
            y1 = y_of(value)
            bar_y, bar_h = min(y0, y1), abs(y1 - y0)
            bars.append(
                f'<rect class="bar series-{idx}" x="{_n(cx - bar_w / 2)}" y="{_n(bar_y)}" '
                f'width="{_n(bar_w)}" height="{_n(bar_h)}" fill="{_esc(color)}">'
                f"<title>{_esc(label)}: {_esc(shown_value)}</title></rect>"
            )
            if _text_width(shown_value) <= slot + 2:
                ty, baseline = (y1 - 4, "") if value >= 0 else (y1 + 4, ' dy="0.8em"')
                bars.append(
                    f'<text class="value" x="{_n(cx)}" y="{_n(ty)}"{baseline} text-anchor="middle">'
                    f"{_esc(shown_value)}</text>"
                )
        if max_chars >= 3:
            labels.append(
                _label_text(
                    cx,
                    top + plot_h + 14,
                    label,
                    _truncate(label, max_chars),
                    class_="label",
                    text_anchor="middle",
                )
            )
    bars.append("</g>")
    labels.append("</g>")
    baseline_el = (
        f'<line class="baseline" x1="{_n(left)}" y1="{_n(y0)}" x2="{_n(width - right)}" y2="{_n(y0)}" '
        f'stroke="{_AXIS_COLOR}" stroke-width="1"/>'
    )
    desc = _summary(f"{label}: {_fmt(value_format, v)}" for (label, _), v in zip(items, values, strict=True))
    return _root("bar", title, width, height, [*body, *bars, baseline_el, *labels], desc)


# --------------------------------------------------------------------------- horizontal bar chart


def hbar_chart(
    items: Sequence[tuple[str, float]],
    *,
    title: str,
    width: int = 480,
    bar_height: int = 22,
    value_format: str = "{:g}",
    colors: Sequence[str] | None = None,
) -> str:
    """Horizontal bars with labels on the left and values at the bar ends.

    The height grows with the number of items. Bar lengths are proportional
    to the values, the largest filling the plot width; negative and missing
    values draw a zero-length bar (their label still shows the value).
    Colors and classes follow :func:`bar_chart`.
    """
    items = list(items)
    if not items:
        return _empty("hbar", title, width)

    gap, pad = 6.0, 4.0
    values = [float(v) if _finite(v) else None for _, v in items]
    shown_values = [_fmt(value_format, v) for v in values]
    labels = [str(label) for label, _ in items]
    vmax = max([0.0, *(v for v in values if v is not None)])

    cap = max(4, min(24, int(width * 0.35 // _CHAR_W)))
    label_chars = min(cap, max(len(label) for label in labels))
    label_w = label_chars * _CHAR_W + 10
    value_w = max(_text_width(v) for v in shown_values) + 8
    plot_x = label_w
    plot_w = max(1.0, width - label_w - value_w - pad)
    height = pad * 2 + len(items) * (bar_height + gap) - gap

    body: list[str] = ['<g class="bars">']
    for i, (label, value, shown_value) in enumerate(zip(labels, values, shown_values, strict=True)):
        idx = i % len(colors) if colors else 0
        color = _color(idx, colors)
        y = pad + i * (bar_height + gap)
        mid = y + bar_height / 2
        length = plot_w * value / vmax if value is not None and value > 0 and vmax > 0 else 0.0
        body.append(
            _label_text(
                label_w - 6,
                mid,
                label,
                _truncate(label, label_chars),
                class_="label",
                dy="0.32em",
                text_anchor="end",
            )
        )
        body.append(
            f'<rect class="bar series-{idx}" x="{_n(plot_x)}" y="{_n(y)}" width="{_n(length)}" '
            f'height="{_n(bar_height)}" fill="{_esc(color)}">'
            f"<title>{_esc(label)}: {_esc(shown_value)}</title></rect>"
        )
        body.append(
            f'<text class="value" x="{_n(plot_x + length + 4)}" y="{_n(mid)}" dy="0.32em">{_esc(shown_value)}</text>'
        )
    body.append("</g>")
    body.append(
        f'<line class="baseline" x1="{_n(plot_x)}" y1="{_n(pad / 2)}" x2="{_n(plot_x)}" '
        f'y2="{_n(height - pad / 2)}" stroke="{_AXIS_COLOR}" stroke-width="1"/>'
    )
    desc = _summary(f"{label}: {v}" for label, v in zip(labels, shown_values, strict=True))
    return _root("hbar", title, width, height, body, desc)


# --------------------------------------------------------------------------- line chart


def line_chart(
    series: Mapping[str, Sequence[tuple[float, float | None]]],
    *,
    title: str,
    width: int = 560,
    height: int = 240,
    x_label: str = "",
    y_label: str = "",
    y_range: tuple[float, float] | None = None,
    value_format: str = "{:.3f}",
    empty_text: str = EMPTY_TEXT,
) -> str:
    """One line with circle points per series, x and y axes and a legend.

    ``series`` maps a name to ``(x, y)`` points; points are drawn in x order.
    A ``None`` (or non-finite) y leaves a gap: the line breaks there. A series
    with a single point still shows the point. ``y_range`` fixes the y axis
    (values outside it are clamped to the plot's edge); otherwise it spans the
    data, widened to nice ticks. ``height`` covers the plot and its axes; the
    legend is added below it.
    """
    cleaned: list[tuple[str, list[tuple[float, float | None]]]] = []
    for name, points in series.items():
        pts = [
            (float(x), float(y) if _finite(y) else None)
            for x, y in points
            if _finite(x)  # a point without a usable x has no place on the axis
        ]
        pts.sort(key=lambda p: p[0])
        cleaned.append((str(name), pts))
    xs = [x for _, pts in cleaned for x, y in pts if y is not None]
    ys = [y for _, pts in cleaned for _, y in pts if y is not None]
    if not ys:
        return _empty("line", title, width, empty_text)

    if y_range is not None:
        y_lo, y_hi = float(y_range[0]), float(y_range[1])
        if not (math.isfinite(y_lo) and math.isfinite(y_hi) and y_lo < y_hi):
            raise ValueError("y_range must be two finite numbers, low < high")
        y_ticks = [t for t in nice_ticks(y_hi, 5, vmin=y_lo) if y_lo - 1e-9 <= t <= y_hi + 1e-9]
    else:
        y_ticks = nice_ticks(max(ys), 5, vmin=min(ys))
        y_lo, y_hi = y_ticks[0], y_ticks[-1]
    y_tick_labels = [_tick_label(t) for t in y_ticks]

    top, right = 10.0, 14.0
    left = max(28.0, max((_text_width(t) for t in y_tick_labels), default=0) + 12) + (16 if y_label else 0)
    bottom = 22.0 + (16 if x_label else 0)
    plot_w = max(1.0, width - left - right)
    plot_h = max(1.0, height - top - bottom)

    x_min, x_max = min(xs), max(xs)
    x_n = max(2, min(8, int(plot_w // 70)))
    if all(x.is_integer() for x in xs):
        # Whole-number x (rounds, epochs) gets whole-number ticks.
        if x_min == x_max:
            # One point: a count (labels, rounds) is read from zero, so "64 labels" sits on a
            # 0..80 axis rather than a 63..65 one that makes it look like the middle of a run.
            # The axis runs a little past it so the point is not lost on the frame.
            x_min, x_max = (0.0, x_max + max(1.0, x_max / 4)) if x_min >= 0 else (x_min - 1, x_max + 1)
        x_n = max(1, min(x_n, int(x_max - x_min)))
    x_ticks = nice_ticks(x_max, x_n, vmin=x_min)
    x_lo, x_hi = x_ticks[0], x_ticks[-1]

    def px(x: float) -> float:
        return left + plot_w * (x - x_lo) / (x_hi - x_lo)

    def py(y: float) -> float:
        y = min(max(y, y_lo), y_hi)
        return top + plot_h * (y_hi - y) / (y_hi - y_lo)

    body: list[str] = ['<g class="axis y-axis">']
    for tick, text in zip(y_ticks, y_tick_labels, strict=True):
        y = py(tick)
        body.append(
            f'<line class="grid" x1="{_n(left)}" y1="{_n(y)}" x2="{_n(width - right)}" y2="{_n(y)}" '
            f'stroke="{_GRID_COLOR}" stroke-width="1"/>'
            f'<text class="tick y-tick" x="{_n(left - 6)}" y="{_n(y)}" dy="0.32em" text-anchor="end" '
            f'fill="{_MUTED_COLOR}">{_esc(text)}</text>'
        )
    if y_label:
        cy = top + plot_h / 2
        body.append(
            f'<text class="axis-label" x="10" y="{_n(cy)}" text-anchor="middle" dy="0.32em" '
            f'transform="rotate(-90 10 {_n(cy)})">{_esc(y_label)}</text>'
        )
    body.append("</g>")

    axis_y = top + plot_h
    body.append('<g class="axis x-axis">')
    body.append(
        f'<line class="baseline" x1="{_n(left)}" y1="{_n(axis_y)}" x2="{_n(width - right)}" y2="{_n(axis_y)}" '
        f'stroke="{_AXIS_COLOR}" stroke-width="1"/>'
    )
    for tick in x_ticks:
        x = px(tick)
        body.append(
            f'<line class="tick-mark" x1="{_n(x)}" y1="{_n(axis_y)}" x2="{_n(x)}" y2="{_n(axis_y + 4)}" '
            f'stroke="{_AXIS_COLOR}" stroke-width="1"/>'
            f'<text class="tick x-tick" x="{_n(x)}" y="{_n(axis_y + 15)}" text-anchor="middle" '
            f'fill="{_MUTED_COLOR}">{_esc(_tick_label(tick))}</text>'
        )
    if x_label:
        body.append(
            f'<text class="axis-label" x="{_n(left + plot_w / 2)}" y="{_n(axis_y + 32)}" '
            f'text-anchor="middle">{_esc(x_label)}</text>'
        )
    body.append("</g>")

    x_name = x_label or "x"
    legend_entries: list[tuple[str, str, str]] = []
    desc_parts: list[str] = []
    for i, (name, pts) in enumerate(cleaned):
        color = _color(i)
        css = f"series-{i}"
        legend_entries.append((css, color, name))
        runs: list[list[tuple[float, float]]] = [[]]
        for x, y in pts:
            if y is None:
                if runs[-1]:
                    runs.append([])
            else:
                runs[-1].append((x, y))
        body.append(f'<g class="series {css}">')
        for run in runs:
            if len(run) >= 2:
                coords = " ".join(f"{_n(px(x))},{_n(py(y))}" for x, y in run)
                body.append(
                    f'<polyline class="line {css}" points="{coords}" fill="none" stroke="{color}" '
                    f'stroke-width="2" stroke-linejoin="round" stroke-linecap="round"/>'
                )
        for run in runs:
            for x, y in run:
                body.append(
                    f'<circle class="point {css}" cx="{_n(px(x))}" cy="{_n(py(y))}" r="3" fill="{color}" '
                    f'stroke="#ffffff" stroke-width="1">'
                    f"<title>{_esc(name)}, {_esc(x_name)} {_esc(_tick_label(x))}: "
                    f"{_esc(_fmt(value_format, y))}</title></circle>"
                )
        body.append("</g>")
        valid = [(x, y) for run in runs for x, y in run]
        if valid:
            last_x, last_y = valid[-1]
            desc_parts.append(
                f"{name}: {len(valid)} point{'s' if len(valid) != 1 else ''}, "
                f"last {_tick_label(last_x)}: {_fmt(value_format, last_y)}"
            )
        else:
            desc_parts.append(f"{name}: no points")

    legend, legend_h = _legend(legend_entries, left, height, plot_w, swatch="line")
    body.append(legend)
    return _root("line", title, width, height + legend_h + 4, body, _summary(desc_parts))


# --------------------------------------------------------------------------- stacked bar


def stacked_bar(
    parts: Sequence[tuple[str, float, str]],
    *,
    title: str,
    width: int = 480,
    height: int = 28,
    value_format: str = "{:g}",
) -> str:
    """One horizontal 100% bar split into ``(label, value, css_class)`` parts.

    Each segment carries ``segment`` plus the part's class; the rating classes
    map to their colors (:data:`RATING_COLORS`), others to the palette by
    position. The bar spans the full width and the segments' widths add up to
    it exactly. A legend below shows each part's label, value and percentage.
    Negative and missing values count as zero; a zero total is "No data yet".
    """
    parts = list(parts)
    values = [max(0.0, float(v)) if _finite(v) else 0.0 for _, v, _ in parts]
    total = sum(values)
    if not parts or total <= 0:
        return _empty("stack", title, width)

    bar: list[str] = ['<g class="bar">']
    legend_entries: list[tuple[str, str, str]] = []
    desc_parts: list[str] = []
    cumulative = 0.0
    for i, ((label, _, css), value) in enumerate(zip(parts, values, strict=True)):
        label = str(label)
        css = _css_class(css)
        color = RATING_COLORS.get(css, _color(i))
        share = value / total
        pct = "<1%" if 0 < share < 0.005 else f"{share * 100:.0f}%"
        shown = f"{_fmt(value_format, value)} ({pct})"
        # Round the cumulative edges, not each width, so the widths add up to the bar exactly.
        x0 = round(width * cumulative / total, 1)
        cumulative += value
        x1 = round(width * cumulative / total, 1)
        if value > 0:
            bar.append(
                f'<rect class="segment {_esc(css)}" x="{_n(x0)}" y="0" width="{_n(x1 - x0)}" height="{_n(height)}" '
                f'fill="{_esc(color)}"><title>{_esc(label)}: {_esc(shown)}</title></rect>'
            )
        legend_entries.append((css, color, f"{label} {shown}"))
        desc_parts.append(f"{label}: {shown}")
    bar.append("</g>")
    legend, legend_h = _legend(legend_entries, 0, height + 6, width)
    return _root("stack", title, width, height + 6 + legend_h, [*bar, legend], _summary(desc_parts))
