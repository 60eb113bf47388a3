"""Charts as inline SVG, drawn on the server: they need no script (the CSP allows none inline),
print and screenshot as they look, and each carries a <title> and a table of its numbers for
screen readers. Two shapes cover the analytics page: bars (one or two series) and a line."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from markupsafe import Markup

W, H = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 40, 10, 12, 40


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if value <= step:
            return float(step)
    return float(value)


def _axes(top: float, caption: str) -> list[str]:
    parts = [
        f'<line class="axis" x1="{LEFT}" y1="{H - BOTTOM}" x2="{W - RIGHT}" y2="{H - BOTTOM}"/>',
        f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{H - BOTTOM}"/>',
    ]
    for fraction in (0.0, 0.5, 1.0):
        y = H - BOTTOM - fraction * (H - TOP - BOTTOM)
        label = top * fraction
        text = f"{label:g}" if label == int(label) else f"{label:.1f}"
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{text}</text>')
    return [f"<title>{escape(caption)}</title>", *parts]


def _labels(labels: Sequence[str], step_x: float) -> list[str]:
    # As many labels as fit without overlapping (about 6 px per character at 11 px).
    widest = max(len(label) for label in labels) * 6 + 10
    every = max(1, math.ceil(len(labels) * widest / (W - LEFT - RIGHT)))
    out = []
    last = len(labels) - 1
    for i, label in enumerate(labels):
        if (last - i) % every == 0:  # counted back from the last label (today), never crowding it
            x = LEFT + step_x * (i + 0.5)
            y = H - BOTTOM + 16
            out.append(f'<text x="{x:.1f}" y="{y}" text-anchor="middle">{escape(label)}</text>')
    return out


def _table(
    caption: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[float]]]
) -> str:
    head = "".join(f"<th>{escape(name)}</th>" for name, _ in series)
    rows = "".join(
        f"<tr><td>{escape(label)}</td>"
        + "".join(f"<td>{values[i]:g}</td>" for _, values in series)
        + "</tr>"
        for i, label in enumerate(labels)
    )
    # The wrapper hides it: a table's own box grows to its rows whatever its height says, and
    # would lengthen the page.
    return (
        f'<div class="visually-hidden"><table><caption>{escape(caption)}</caption>'
        f"<tr><th></th>{head}</tr>{rows}</table></div>"
    )


def _svg(caption: str, parts: list[str]) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(caption)}">'
        + "".join(parts)
        + "</svg>"
    )


def bars(
    caption: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[float]]]
) -> Markup:
    """Grouped bars: one group per label, one bar per series (at most two look good)."""
    if not labels:
        return Markup('<p class="muted small">No data yet.</p>')
    top = _nice_max(max((max(v) for _, v in series if v), default=0))
    step_x = (W - LEFT - RIGHT) / len(labels)
    width = step_x * 0.8 / max(1, len(series))
    parts = _axes(top, caption)
    for s, (_, values) in enumerate(series):
        for i, value in enumerate(values):
            height = (H - TOP - BOTTOM) * (value / top)
            x = LEFT + step_x * i + step_x * 0.1 + width * s
            cls = "bar alt" if s else "bar"
            parts.append(
                f'<rect class="{cls}" x="{x:.1f}" y="{H - BOTTOM - height:.1f}" '
                f'width="{max(width - 1, 1):.1f}" height="{height:.1f}"/>'
            )
    parts += _labels(labels, step_x)
    svg = _svg(caption, parts)
    return Markup(svg + _table(caption, labels, series))  # noqa: S704 (every text is escaped)


def line(
    caption: str, labels: Sequence[str], values: Sequence[float], *, low: float = 0.0
) -> Markup:
    if not labels:
        return Markup('<p class="muted small">No data yet.</p>')
    top = _nice_max(max(values))
    step_x = (W - LEFT - RIGHT) / len(labels)

    def point(i: int, value: float) -> tuple[float, float]:
        span = (top - low) or 1.0
        return LEFT + step_x * (i + 0.5), H - BOTTOM - (H - TOP - BOTTOM) * ((value - low) / span)

    points = [point(i, v) for i, v in enumerate(values)]
    parts = _axes(top, caption)
    parts.append(
        '<polyline class="line" points="' + " ".join(f"{x:.1f},{y:.1f}" for x, y in points) + '"/>'
    )
    parts += [f'<circle class="dot" cx="{x:.1f}" cy="{y:.1f}" r="3"/>' for x, y in points]
    parts += _labels(labels, step_x)
    svg = _svg(caption, parts)
    return Markup(svg + _table(caption, labels, [(caption, values)]))  # noqa: S704 (escaped)
