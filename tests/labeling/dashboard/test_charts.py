import math
import re
import xml.etree.ElementTree as ET

import pytest

from labeling.dashboard.charts import (
    PALETTE,
    RATING_COLORS,
    bar_chart,
    hbar_chart,
    line_chart,
    nice_ticks,
    stacked_bar,
)

SVG = "{http://www.w3.org/2000/svg}"
XSS = "<script>alert(1)</script>"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # noqa: S314 - our own output, parsed to prove it is well-formed
    assert root.tag == f"{SVG}svg"
    return root


def marks(root: ET.Element, tag: str, css: str) -> list[ET.Element]:
    return [el for el in root.iter(f"{SVG}{tag}") if css in (el.get("class") or "").split()]


def title_of(el: ET.Element) -> str:
    return el.find(f"{SVG}title").text


def shown_text(el: ET.Element) -> str:
    """The visible text of a <text>, without its (full-label) <title> child."""
    title = el.find(f"{SVG}title")
    return el.text if title is None else title.tail


def assert_root(root: ET.Element, kind: str, title: str) -> None:
    assert root.get("role") == "img"
    assert root.get("aria-label") == title
    assert root.get("width") == "100%"
    assert re.fullmatch(r"0 0 \d+(\.\d)? \d+(\.\d)?", root.get("viewBox"))
    assert root.get("class").split() == ["chart", f"chart-{kind}"]
    assert root.get("data-chart") == kind
    first = root[0]
    assert first.tag == f"{SVG}title" and first.text == title


# --------------------------------------------------------------------------- nice_ticks


@pytest.mark.parametrize(
    ("vmax", "n", "expected"),
    [
        (87, 5, [0, 20, 40, 60, 80, 100]),
        (100, 5, [0, 20, 40, 60, 80, 100]),
        (10, 5, [0, 2, 4, 6, 8, 10]),
        (40, 4, [0, 10, 20, 30, 40]),
        (87, 4, [0, 50, 100]),
        (1, 5, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (0.3, 3, [0, 0.1, 0.2, 0.3]),
        (0.87, 4, [0, 0.5, 1.0]),
        (7, 3, [0, 5, 10]),
        (1234, 4, [0, 500, 1000, 1500]),
        (0, 4, [0, 0.5, 1.0]),
    ],
)
def test_nice_ticks(vmax, n, expected):
    assert nice_ticks(vmax, n) == expected


def test_nice_ticks_steps_are_nice_and_bounded():
    for vmax in (0.013, 0.7, 3, 9.99, 42, 87, 999, 12345.6):
        for n in (3, 4, 5, 8):
            ticks = nice_ticks(vmax, n)
            assert ticks[0] == 0 and ticks[-1] >= vmax
            assert 2 <= len(ticks) <= n + 1
            step = ticks[1] - ticks[0]
            mantissa = step / 10 ** math.floor(math.log10(step))
            assert round(mantissa, 6) in (1, 2, 5, 10)
            assert all(abs((b - a) - step) < 1e-9 * max(1, step) for a, b in zip(ticks, ticks[1:], strict=False))


def test_nice_ticks_with_vmin_and_ints():
    assert nice_ticks(5, 5, vmin=-5) == [-5, 0, 5]
    assert nice_ticks(0.78, 5, vmin=0.71) == [0.7, 0.72, 0.74, 0.76, 0.78]
    assert all(isinstance(t, int) for t in nice_ticks(87, 5))
    with pytest.raises(ValueError):
        nice_ticks(float("nan"))


# --------------------------------------------------------------------------- common behaviour


def render_all(label: str, title: str = "Chart") -> dict[str, str]:
    return {
        "bar": bar_chart([(label, 3), ("b", 5)], title=title),
        "hbar": hbar_chart([(label, 3), ("b", 5)], title=title),
        "line": line_chart({label: [(1, 0.5), (2, 0.7)], "b": [(1, 0.1)]}, title=title, x_label=label, y_label=label),
        "stack": stacked_bar([(label, 3, "rating-pos"), ("b", 5, "rating-neg")], title=title),
    }


@pytest.mark.parametrize("kind", ["bar", "hbar", "line", "stack"])
def test_root_attributes_and_xml(kind):
    svg = render_all("a")[kind]
    assert_root(parse(svg), kind, "Chart")


@pytest.mark.parametrize("kind", ["bar", "hbar", "line", "stack"])
def test_data_texts_are_escaped(kind):
    svg = render_all(XSS, title=f'Acc "v2" & {XSS}')[kind]
    assert "<script" not in svg
    assert "&lt;script&gt;" in svg
    root = parse(svg)
    assert root.get("aria-label") == f'Acc "v2" & {XSS}'
    assert not list(root.iter("script")) and not list(root.iter(f"{SVG}script"))
    # The label round-trips as text: it reached the markup escaped, not dropped.
    texts = [t for el in root.iter() for t in (el.text, el.get("aria-label")) if t]
    assert any(XSS in t for t in texts)


def test_control_characters_do_not_break_the_xml():
    parse(bar_chart([("bad\x00\x1blabel", 1)], title="t\x07"))


@pytest.mark.parametrize(
    ("kind", "render"),
    [
        ("bar", lambda: bar_chart([], title="Empty")),
        ("hbar", lambda: hbar_chart([], title="Empty")),
        ("line", lambda: line_chart({}, title="Empty")),
        ("line", lambda: line_chart({"a": [], "b": [(1, None)]}, title="Empty")),
        ("stack", lambda: stacked_bar([], title="Empty")),
        ("stack", lambda: stacked_bar([("a", 0, "rating-pos")], title="Empty")),
    ],
)
def test_empty_data(kind, render):
    svg = render()
    root = parse(svg)
    assert_root(root, kind, "Empty")
    assert "No data yet" in svg
    assert not marks(root, "rect", "bar") and not marks(root, "circle", "point")


def test_an_empty_line_chart_can_say_why_it_is_empty_escaped():
    svg = line_chart({"PRM": [(40, None)]}, title="Empty", empty_text="needs <several> solutions")
    assert "needs &lt;several&gt; solutions" in svg and "No data yet" not in svg


@pytest.mark.parametrize("kind", ["bar", "hbar", "line", "stack"])
def test_coordinates_have_at_most_one_decimal_and_output_is_deterministic(kind):
    svg = render_all("a")[kind]
    for name, value in re.findall(r'\b(x|y|x1|x2|y1|y2|cx|cy|width|height)="([^"]*)"', svg):
        if value != "100%":
            assert re.fullmatch(r"-?\d+(\.\d)?", value), (name, value)
    for points in re.findall(r'points="([^"]*)"', svg):
        assert re.fullmatch(r"(-?\d+(\.\d)?,-?\d+(\.\d)?)( -?\d+(\.\d)?,-?\d+(\.\d)?)*", points)
    assert render_all("a")[kind] == svg


# --------------------------------------------------------------------------- bar chart


def test_bar_heights_are_proportional():
    items = [("a", 10), ("b", 20), ("c", 40), ("d", 5)]
    svg = bar_chart(items, title="Counts")
    heights = [float(h) for h in re.findall(r'<rect class="bar [^"]*"[^>]*\bheight="([\d.]+)"', svg)]
    assert len(heights) == 4
    unit = heights[2] / 40
    assert unit > 0
    for (_, value), height in zip(items, heights, strict=True):
        assert height == pytest.approx(value * unit, abs=0.1)
    # Bars share one baseline.
    root = parse(svg)
    bottoms = {round(float(r.get("y")) + float(r.get("height")), 1) for r in marks(root, "rect", "bar")}
    assert len(bottoms) == 1


def test_bar_titles_labels_and_values():
    svg = bar_chart([("accuracy of model v3-long-name", 12.5), ("b", 3)], title="T", value_format="{:.1f}")
    root = parse(svg)
    bars = marks(root, "rect", "bar")
    assert [title_of(b) for b in bars] == ["accuracy of model v3-long-name: 12.5", "b: 3.0"]
    labels = marks(root, "text", "label")
    shown = [shown_text(lab) for lab in labels]
    assert shown == ["accuracy of…", "b"]
    assert title_of(labels[0]) == "accuracy of model v3-long-name"
    assert all(len(s) <= 12 for s in shown)
    values = [el.text for el in marks(root, "text", "value")]
    assert values == ["12.5", "3.0"]
    ticks = [el.text for el in marks(root, "text", "y-tick")]
    assert 3 <= len(ticks) <= 5
    assert ticks[0] == "0"


def test_bar_colors_and_series_classes():
    svg = bar_chart([("a", 1), ("b", 2), ("c", 3)], title="T")
    bars = marks(parse(svg), "rect", "bar")
    assert {b.get("fill") for b in bars} == {PALETTE[0]}
    assert all("series-0" in b.get("class").split() for b in bars)

    svg = bar_chart([("a", 1), ("b", 2), ("c", 3)], title="T", colors=["#111111", "#222222"])
    bars = marks(parse(svg), "rect", "bar")
    assert [b.get("fill") for b in bars] == ["#111111", "#222222", "#111111"]
    assert [b.get("class") for b in bars] == ["bar series-0", "bar series-1", "bar series-0"]


def test_bar_all_zero_and_missing_values():
    root = parse(bar_chart([("a", 0), ("b", 0)], title="T"))
    assert [float(b.get("height")) for b in marks(root, "rect", "bar")] == [0, 0]
    root = parse(bar_chart([("a", None), ("b", 2)], title="T"))
    assert [title_of(b) for b in marks(root, "rect", "bar")] == ["b: 2"]


def test_bar_negative_values_go_below_the_baseline():
    root = parse(bar_chart([("up", 4), ("down", -2)], title="T"))
    up, down = marks(root, "rect", "bar")
    assert float(up.get("y")) + float(up.get("height")) == pytest.approx(float(down.get("y")), abs=0.1)
    assert float(up.get("height")) == pytest.approx(2 * float(down.get("height")), abs=0.2)


# --------------------------------------------------------------------------- hbar chart


def test_hbar_widths_are_proportional_and_height_grows():
    items = [("alpha", 30), ("beta", 15), ("gamma", 60)]
    svg = hbar_chart(items, title="T")
    root = parse(svg)
    bars = marks(root, "rect", "bar")
    widths = [float(b.get("width")) for b in bars]
    unit = widths[2] / 60
    for (_, value), width in zip(items, widths, strict=True):
        assert width == pytest.approx(value * unit, abs=0.1)
    assert [title_of(b) for b in bars] == ["alpha: 30", "beta: 15", "gamma: 60"]
    assert [float(b.get("height")) for b in bars] == [22, 22, 22]

    def vb_height(s):
        return float(parse(s).get("viewBox").split()[3])

    assert vb_height(hbar_chart(items * 3, title="T")) > vb_height(svg) > vb_height(hbar_chart(items[:1], title="T"))
    assert vb_height(hbar_chart(items, title="T", bar_height=40)) > vb_height(svg)


def test_hbar_labels_are_left_of_bars_and_truncated():
    long = "strategy-" + "x" * 60
    root = parse(hbar_chart([(long, 1), ("short", 2)], title="T", width=300))
    bar_x = float(marks(root, "rect", "bar")[0].get("x"))
    labels = marks(root, "text", "label")
    assert all(float(lab.get("x")) < bar_x and lab.get("text-anchor") == "end" for lab in labels)
    assert shown_text(labels[0]).endswith("…") and len(shown_text(labels[0])) < len(long)
    assert shown_text(labels[1]) == "short"
    assert title_of(labels[0]) == long
    assert title_of(marks(root, "rect", "bar")[0]) == f"{long}: 1"


# --------------------------------------------------------------------------- line chart


def test_line_points_count_equals_non_none_values_and_gaps_split_lines():
    series = {
        "model-v1": [(1, 0.5), (2, None), (3, 0.7), (4, 0.8), (5, 0.82)],
        "model-v2": [(1, 0.55), (2, 0.6)],
        "single": [(3, 0.9)],
    }
    root = parse(line_chart(series, title="Accuracy", x_label="round", y_label="accuracy"))
    points = marks(root, "circle", "point")
    assert len(points) == 4 + 2 + 1
    for i, name in enumerate(series):
        assert len(marks(root, "circle", f"series-{i}")) == sum(y is not None for _, y in series[name])
    # model-v1 breaks at the gap: one point alone, then a 3-point line.
    lines_v1 = marks(root, "polyline", "series-0")
    assert [len(pl.get("points").split()) for pl in lines_v1] == [3]
    assert len(marks(root, "polyline", "series-1")) == 1
    assert marks(root, "polyline", "series-2") == []  # a single point has no line but is drawn
    assert title_of(marks(root, "circle", "series-2")[0]) == "single, round 3: 0.900"
    legend = [el.text for el in root.iter(f"{SVG}text") if el.text in series]
    assert legend == list(series)
    assert "round" in [el.text for el in marks(root, "text", "axis-label")]


@pytest.mark.parametrize(("x", "ticks"), [(0, ["0", "1"]), (1, ["0", "1", "2"]),
                                           (40, ["0", "10", "20", "30", "40", "50"]), (-3, ["-4", "-3", "-2"])])
def test_a_lone_point_of_a_count_is_read_from_zero_with_room_past_it(x, ticks):
    # A 39..41 axis made one run at 40 labels look like the middle of a curve.
    root = parse(line_chart({"step AUROC": [(x, 0.6)]}, title="T", x_label="labeled solutions"))
    assert [t.text for t in marks(root, "text", "x-tick")] == ticks
    (point,) = marks(root, "circle", "point")
    frame = [float(t.get("x")) for t in marks(root, "text", "x-tick")]
    assert frame[0] < float(point.get("cx")) < frame[-1] or x == 0


def test_line_y_range_positions_points():
    root = parse(line_chart({"a": [(0, 0.0), (1, 0.5), (2, 1.0), (3, 1.5)]}, title="T", y_range=(0, 1)))
    cys = [float(c.get("cy")) for c in marks(root, "circle", "point")]
    assert cys[0] > cys[1] > cys[2]
    assert cys[1] == pytest.approx((cys[0] + cys[2]) / 2, abs=0.1)
    assert cys[3] == cys[2]  # clamped to the top of the range
    ticks = [float(t.text) for t in marks(root, "text", "y-tick")]
    assert 0 in ticks and 1 in ticks and max(ticks) <= 1
    with pytest.raises(ValueError):
        line_chart({"a": [(0, 1)]}, title="T", y_range=(1, 1))


def test_line_points_are_in_x_order_and_series_get_palette_colors():
    root = parse(line_chart({"a": [(3, 3), (1, 1), (2, 2)], "b": [(1, 2)]}, title="T", value_format="{:g}"))
    a_points = marks(root, "circle", "series-0")
    cxs = [float(c.get("cx")) for c in a_points]
    assert cxs == sorted(cxs)
    assert [title_of(c) for c in a_points] == ["a, x 1: 1", "a, x 2: 2", "a, x 3: 3"]
    assert a_points[0].get("fill") == PALETTE[0]
    assert marks(root, "circle", "series-1")[0].get("fill") == PALETTE[1]
    assert marks(root, "polyline", "series-0")[0].get("stroke") == PALETTE[0]


# --------------------------------------------------------------------------- stacked bar


def test_stacked_segments_fill_the_bar():
    parts = [("Good", 7, "rating-pos"), ("Okay", 3, "rating-neu"), ("Bad", 1, "rating-neg"), ("Odd", 2, "other")]
    root = parse(stacked_bar(parts, title="Ratings", width=333))
    segments = marks(root, "rect", "segment")
    widths = [float(s.get("width")) for s in segments]
    assert sum(widths) == pytest.approx(333, abs=0.5)
    for (_, value, _), width in zip(parts, widths, strict=True):
        assert width == pytest.approx(333 * value / 13, abs=0.2)
    xs = [float(s.get("x")) for s in segments]
    assert xs[0] == 0
    assert all(x2 == pytest.approx(x1 + w, abs=0.05) for x1, w, x2 in zip(xs, widths, xs[1:], strict=False))
    assert [s.get("class") for s in segments] == [
        "segment rating-pos",
        "segment rating-neu",
        "segment rating-neg",
        "segment other",
    ]
    fills = [s.get("fill") for s in segments]
    assert fills[:3] == [RATING_COLORS["rating-pos"], RATING_COLORS["rating-neu"], RATING_COLORS["rating-neg"]]
    assert fills[3] in PALETTE
    assert title_of(segments[0]) == "Good: 7 (54%)"


def test_stacked_legend_and_zero_parts():
    root = parse(stacked_bar([("Yes", 1, "rating-pos"), ("No", 0, "rating-neg"), ("Maybe", 3, "x")], title="T"))
    assert len(marks(root, "rect", "segment")) == 2
    legend = [el.text for el in root.iter(f"{SVG}text")]
    assert legend == ["Yes 1 (25%)", "No 0 (0%)", "Maybe 3 (75%)"]
    assert len(marks(root, "rect", "swatch")) == 3


def test_stacked_css_class_is_sanitised():
    svg = stacked_bar([("a", 1, 'x" onload="alert(1)')], title="T")
    root = parse(svg)
    (segment,) = marks(root, "rect", "segment")
    assert segment.get("onload") is None
    assert '"' not in segment.get("class")

