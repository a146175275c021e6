"""Layer health over iterations as one SVG figure (no plotting library needed).

Five small plots side by side — the loss, each weighted layer's relative gradient
``‖∂L/∂W‖/‖W‖`` and its update-to-weight ratio (log scales), each layer's activation
standard deviation and each ReLU layer's dead fraction — with the thresholds of
:mod:`numbanet.tui.health` drawn as dashed lines, and the diagnoses written underneath.
``numbanet step --headless --diagnose --figure health.svg`` writes it; so does the
dashboard's export key (``e``).
"""

from __future__ import annotations

import math
from html import escape

from . import health

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
PLOT_WIDTH, PLOT_HEIGHT, MARGIN = 260, 170, 48


def _panels(history: list[dict]) -> list[dict]:
    """What each plot shows: title, log scale or not, lines (label, values), thresholds."""
    layers = history[-1]["layers"]
    weighted = [layer["module"] for layer in layers if layer.get("parameter")]
    relus = [layer["module"] for layer in layers if layer.get("dead_fraction") is not None]
    every = [layer["module"] for layer in layers]

    def lines(modules, metric):
        return [(module, health.series(history, module, metric)) for module in modules]

    return [
        {"title": "loss", "log": False, "lines": [("loss", health.loss_series(history))],
         "thresholds": []},
        {"title": "‖∂L/∂W‖/‖W‖ per layer", "log": True,
         "lines": lines(weighted, "grad_ratio"), "thresholds": []},
        {"title": "‖Δw‖/‖w‖ per layer", "log": True, "lines": lines(weighted, "update_ratio"),
         "thresholds": [(health.UPDATE_RATIO_HIGH, "too high"),
                        (health.UPDATE_RATIO_TARGET, "healthy"),
                        (health.UPDATE_RATIO_LOW, "too low")]},
        {"title": "activation std per layer", "log": False,
         "lines": lines(every, "activation_std"), "thresholds": []},
        {"title": "dead ReLU fraction", "log": False, "lines": lines(relus, "dead_fraction"),
         "thresholds": [(health.DEAD_FRACTION, "dead > 50 %")], "range": (0.0, 1.0)},
    ]


def _scale(values: list[float], log: bool, fixed=None) -> tuple[float, float]:
    if fixed:
        return fixed
    usable = [math.log10(v) if log else v for v in values
              if math.isfinite(v) and (v > 0 or not log)]
    if not usable:
        return (0.0, 1.0)
    low, high = min(usable), max(usable)
    if high - low < 1e-12:
        low, high = low - 0.5, high + 0.5
    return low, high


def _plot(panel: dict, x0: float, y0: float, legend: dict[str, str]) -> list[str]:
    """SVG elements of one plot whose top-left corner is (x0, y0)."""
    parts = [f'<rect x="{x0}" y="{y0}" width="{PLOT_WIDTH}" height="{PLOT_HEIGHT}" '
             'fill="white" stroke="#999"/>',
             f'<text x="{x0 + PLOT_WIDTH / 2}" y="{y0 - 8}" text-anchor="middle" '
             f'font-weight="bold">{escape(panel["title"])}</text>']
    log = panel["log"]
    everything = [v for _, values in panel["lines"] for v in values]
    everything += [value for value, _ in panel["thresholds"]]
    low, high = _scale(everything, log, panel.get("range"))
    count = max((len(values) for _, values in panel["lines"]), default=1)

    def x(i):
        return x0 + (PLOT_WIDTH * i / (count - 1) if count > 1 else PLOT_WIDTH / 2)

    def y(value):
        v = math.log10(value) if log else value
        return y0 + PLOT_HEIGHT - (v - low) / (high - low) * PLOT_HEIGHT

    for value, label in panel["thresholds"]:
        if value > 0 or not log:
            parts.append(f'<line x1="{x0}" x2="{x0 + PLOT_WIDTH}" y1="{y(value):.1f}" '
                         f'y2="{y(value):.1f}" stroke="#c00" stroke-dasharray="4 3"/>'
                         f'<text x="{x0 + PLOT_WIDTH - 2}" y="{y(value) - 2:.1f}" '
                         f'text-anchor="end" fill="#c00" font-size="9">{escape(label)}</text>')
    for label, values in panel["lines"]:
        colour = legend.setdefault(label, PALETTE[len(legend) % len(PALETTE)])
        points = [(x(i), y(v)) for i, v in enumerate(values)
                  if math.isfinite(v) and (v > 0 or not log)]
        if len(points) == 1:
            parts.append(f'<circle cx="{points[0][0]:.1f}" cy="{points[0][1]:.1f}" r="3" '
                         f'fill="{colour}"><title>{escape(label)}</title></circle>')
        elif points:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                         f'stroke-width="1.5"><title>{escape(label)}</title></polyline>')
    for value, anchor in ((high, y0 + 10), (low, y0 + PLOT_HEIGHT)):
        text = f"1e{value:.0f}" if log else f"{value:.3g}"
        parts.append(f'<text x="{x0 - 4}" y="{anchor}" text-anchor="end" font-size="9">'
                     f"{text}</text>")
    parts.append(f'<text x="{x0 + PLOT_WIDTH / 2}" y="{y0 + PLOT_HEIGHT + 14}" '
                 f'text-anchor="middle" font-size="9">iteration 1 … {count}</text>')
    return parts


def health_svg(history: list[dict], title: str = "numbanet: layer health") -> str:
    """The figure as SVG text (``history``: the health records of the iterations)."""
    if not history:
        raise ValueError("no layer statistics to plot: record a lesson (a saved trace from an "
                         "older numbanet has none)")
    panels = _panels(history)
    legend: dict[str, str] = {}
    body: list[str] = []
    for column, panel in enumerate(panels):
        body += _plot(panel, MARGIN + column * (PLOT_WIDTH + MARGIN), 60, legend)
    width = MARGIN + len(panels) * (PLOT_WIDTH + MARGIN)
    y = 60 + PLOT_HEIGHT + 40
    legend_items = [f'<rect x="{MARGIN + 150 * (i % 8)}" y="{y + 18 * (i // 8) - 9}" '
                    f'width="10" height="10" fill="{colour}"/>'
                    f'<text x="{MARGIN + 150 * (i % 8) + 14}" y="{y + 18 * (i // 8)}">'
                    f"{escape(label)}</text>" for i, (label, colour) in enumerate(legend.items())]
    y += 18 * ((len(legend) + 7) // 8) + 10
    found = health.diagnose(history)
    notes = [f"Diagnoses: {len(found) or 'none'}"] + [d.describe() for d in found]
    notes += ["Thresholds:"] + [f"  {kind}: {text}" for kind, text
                                in health.THRESHOLDS.items()]
    texts = [f'<text x="{MARGIN}" y="{y + 16 * i}" xml:space="preserve">{escape(line)}</text>'
             for i, line in enumerate(notes)]
    height = y + 16 * len(notes) + 20
    return "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="#fafafa"/>',
        f'<text x="{MARGIN}" y="24" font-size="15" font-weight="bold">{escape(title)} '
        f"({len(history)} iterations)</text>",
        *body, *legend_items, *texts, "</svg>"])


def _latin(text: str) -> str:
    """Pillow's default font has no ‖, ∂, Δ or ×: spell them in ASCII."""
    return text.translate(str.maketrans({"‖": "|", "∂": "d", "Δ": "d", "×": "x", "…": "..."}))


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


def health_png(history: list[dict], title: str = "numbanet: layer health"):
    """The same plots as :func:`health_svg`, as a Pillow image (``image.save("x.png")``):
    the panels, their thresholds, a legend and the diagnoses, in Pillow's default font."""
    from PIL import Image, ImageDraw

    if not history:
        raise ValueError("no layer statistics to plot: record a lesson (a saved trace from an "
                         "older numbanet has none)")
    panels = _panels(history)
    found = health.diagnose(history)
    legend: dict[str, str] = {}
    for panel in panels:
        for label, _ in panel["lines"]:
            legend.setdefault(label, PALETTE[len(legend) % len(PALETTE)])
    notes = [f"Diagnoses: {len(found) or 'none'}"] + [d.describe() for d in found]
    width = MARGIN + len(panels) * (PLOT_WIDTH + MARGIN)
    legend_rows = (len(legend) + 7) // 8
    height = 60 + PLOT_HEIGHT + 40 + 18 * legend_rows + 16 * len(notes) + 30
    image = Image.new("RGB", (width, height), "#fafafa")
    draw = ImageDraw.Draw(image)
    draw.text((MARGIN, 16), f"{title} ({len(history)} iterations)", fill="black")
    for column, panel in enumerate(panels):
        x0, y0 = MARGIN + column * (PLOT_WIDTH + MARGIN), 60
        draw.rectangle([x0, y0, x0 + PLOT_WIDTH, y0 + PLOT_HEIGHT], fill="white",
                       outline="#999999")
        draw.text((x0, y0 - 16), _latin(panel["title"]), fill="black")
        log = panel["log"]
        values = [v for _, series in panel["lines"] for v in series]
        values += [value for value, _ in panel["thresholds"]]
        low, high = _scale(values, log, panel.get("range"))
        count = max((len(series) for _, series in panel["lines"]), default=1)

        def point(i, value, x0=x0, y0=y0, low=low, high=high, log=log, count=count):
            v = math.log10(value) if log else value
            x = x0 + (PLOT_WIDTH * i / (count - 1) if count > 1 else PLOT_WIDTH / 2)
            return x, y0 + PLOT_HEIGHT - (v - low) / (high - low) * PLOT_HEIGHT

        for value, label in panel["thresholds"]:
            _, y = point(0, value)
            if y0 <= y <= y0 + PLOT_HEIGHT:
                for dash in range(0, PLOT_WIDTH, 8):
                    draw.line([x0 + dash, y, x0 + min(dash + 4, PLOT_WIDTH), y], fill="#cc0000")
                draw.text((x0 + 4, y - 12), label, fill="#cc0000")
        for label, series in panel["lines"]:
            points = [point(i, v) for i, v in enumerate(series)
                      if math.isfinite(v) and (v > 0 or not log)]
            colour = _rgb(legend[label])
            if len(points) > 1:
                draw.line(points, fill=colour, width=2)
            elif points:
                x, y = points[0]
                draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=colour)
    y = 60 + PLOT_HEIGHT + 30
    for i, (label, colour) in enumerate(legend.items()):
        x = MARGIN + 150 * (i % 8)
        row_y = y + 18 * (i // 8)
        draw.rectangle([x, row_y, x + 10, row_y + 10], fill=_rgb(colour))
        draw.text((x + 14, row_y), label, fill="black")
    y += 18 * legend_rows + 10
    for i, line in enumerate(notes):
        draw.text((MARGIN, y + 16 * i), _latin(line), fill="black")
    return image


def write_figure(history: list[dict], path, title: str = "numbanet: layer health") -> None:
    """Write the figure as ``.svg`` or ``.png`` (by the file's suffix)."""
    from pathlib import Path

    path = Path(path)
    if path.suffix.lower() == ".png":
        health_png(history, title).save(path)
    elif path.suffix.lower() == ".svg":
        path.write_text(health_svg(history, title), encoding="utf-8")
    else:
        raise ValueError(f"a layer-health figure is .svg or .png, not {path.suffix or path.name}")
