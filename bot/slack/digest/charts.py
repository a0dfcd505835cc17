"""Charts for digests, drawn as PNG bytes: pure (figures in, bytes out), no display needed.

matplotlib's object API with the Agg canvas, never pyplot: no global figure state, so two
charts drawn at once (delivery runs senders concurrently, in threads) cannot mix.
"""

from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bot.domain.noise import PagesPerDay

WIDTH, HEIGHT, DPI = 8.0, 4.0, 100


def pages_per_day_png(per_day: PagesPerDay, title: str) -> bytes:
    """Stacked bars: pages per local day of the week, one colour per team."""
    figure = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    labels = [f"{day:%a} {day.day}" for day in per_day.days]
    bottom = [0] * len(labels)
    for team, counts in per_day.teams.items():
        axes.bar(labels, counts, bottom=bottom, label=team)
        bottom = [low + n for low, n in zip(bottom, counts, strict=True)]
    axes.set_title(title)
    axes.set_ylabel("pages")
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.set_ylim(0, max([*bottom, 1]) + 1)
    if per_day.teams:
        axes.legend(loc="upper right", fontsize="small")
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()
