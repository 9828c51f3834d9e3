"""A picture of what mttd thinks of a timeline: `render_timeline_png` (the CLI, the watcher and
the training report call it) and `draw_geometry`, which draws a `model.viz.geometry.Geometry`.

matplotlib is imported inside the drawing functions only, and through `Figure` + the Agg canvas,
never pyplot: no display, no global figure state, so daemon threads may draw at the same time.
The PNG is written atomically (temp file + rename), as the sidecars are.
"""

from __future__ import annotations

import io
import re
import textwrap
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from model.atomic import write_atomic
from model.features.grid import featurize
from model.inference.predictor import Predictor
from model.suggest.items import SequenceSuggestions, SuggestOptions
from model.suggest.pipeline import predictor_step, suggest_sequence
from model.timeline.types import Sequence, Timeline
from model.viz.geometry import (
    DISABLED_COLOUR,
    GAP_COLOUR,
    REVIEW_COLOUR,
    ROW_S,
    SURE_ALPHA,
    SURE_LEVELS,
    UNKNOWN_COLOUR,
    Box,
    Geometry,
    LegendEntry,
    Rect,
    Zoom,
    timeline_geometry,
)


def pick_sequence(timeline: Timeline, name: str | None) -> Sequence:
    """The named sequence (KeyError when there is none), else the first with video, else the first."""
    if name is not None:
        return timeline.sequence(name)
    return next((s for s in timeline.sequences if s.duration > 0), timeline.sequences[0])


def geometry_for(
    timeline: Timeline,
    sequence_name: str | None,
    predictor: Predictor,
    suggestions: SequenceSuggestions | list[SequenceSuggestions] | None = None,
    row_s: float = ROW_S,
) -> Geometry:
    """Featurize and, unless given, suggest; then lay it all out with the review's predictions
    (predicted here only when the suggestions came without them); `row_s`: a page row's length."""
    seq = pick_sequence(timeline, sequence_name)
    options = SuggestOptions(sequence=seq.name)
    step = predictor_step(predictor, options)
    feats = featurize(seq, step)
    found = _matching(suggestions, seq)
    if found is None:
        found = suggest_sequence(seq, predictor, options, step)
    predictions = found.predictions
    if predictions is None and feats.steps > 1:
        predictions = predictor.predict(feats)
    title = f"{Path(timeline.path).name}  —  sequence {seq.name!r}" if timeline.path else f"sequence {seq.name!r}"
    model_name = " ".join(p for p in (predictor.name, predictor.version) if p)
    return timeline_geometry(seq, feats, predictions, found, title=title, model_name=model_name, row_s=row_s)


def _matching(suggestions, seq: Sequence) -> SequenceSuggestions | None:
    if suggestions is None or isinstance(suggestions, SequenceSuggestions):
        return suggestions
    return next((s for s in suggestions if s.sequence.name == seq.name), None)


def render_timeline_png(
    timeline: Timeline,
    sequence_name: str | None,
    predictor: Predictor,
    out_path: str | Path,
    suggestions: SequenceSuggestions | list[SequenceSuggestions] | None = None,
) -> Path:
    """Draw one sequence (the named one, else the first with video) and write it as a PNG.

    `suggestions`: what `model.suggest.pipeline.suggest` (or `SuggestionRun.results`) already made for
    this timeline, so they are not made twice; None makes them here. KeyError: no such sequence.
    """
    return draw_geometry(geometry_for(timeline, sequence_name, predictor, suggestions), out_path)


# --- drawing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """Sizes in inches (the figure is WIDTH wide at DPI)."""

    width: float = 16.0
    dpi: int = 100
    left: float = 0.95
    right: float = 0.25
    title: float = 0.75
    lane: float = 0.72
    axis: float = 0.45
    legend_row: float = 0.22
    legend_columns: int = 5
    review_row: float = 0.19
    max_legend: int = 80
    max_listed: int = 40  # per list: review items, next and fill segments
    page_lane: float = 0.55  # pages: lanes a little lower, so more rows fit on a page
    page_rows_in: float = 16.0  # pages: the height the rows of one page may take

    @property
    def plot_width(self) -> float:
        return self.width - self.left - self.right


ZOOM_HEAD = 0.3  # inches above a zoomed strip or a page row for its title
ZOOM_LEFT = 0.8  # inches left of a zoom in two columns, for the track names
# Vertical places inside a lane (lane i spans y = i .. i+1).
CLIP_Y = (0.36, 0.94)
PRED_Y = (0.13, 0.29)
DISAGREE_Y = (0.05, 0.12)
FONT = 7.0
CHAR_PX = 0.6 * FONT * 100 / 72  # an average character at FONT points, in pixels at 100 dpi
SMALL_FONT = 6.0
SMALL_CHAR_PX = 0.62 * SMALL_FONT * 100 / 72
SUGGESTED_INK = "#0b3a5a"  # the badge of a next or fill segment (review badges are REVIEW_COLOUR)
SEE_THROUGH_HATCH = "...."  # a clip below 100 % opacity: paler and dotted
MIN_ALPHA = 0.25  # even a nearly transparent clip stays visible


def draw_geometry(geom: Geometry, out_path: str | Path, layout: Layout = Layout(), paged: bool = False) -> Path:
    """Draw the picture (the whole sequence, a zoomed strip around each suggestion of a long
    programme, the sources and the suggestions listed) and write it atomically to `out_path` (PNG).
    `paged`: draw_pages draws the pages too; the picture shows where each starts and lists the
    page of each suggestion."""
    return _write(overview_figure(geom, layout, paged), out_path, layout)


def draw_pages(geom: Geometry, out_path: str | Path, layout: Layout = Layout()) -> list[Path]:
    """The programme in rows of `geom.rows`, as many rows a page as fit in layout.page_rows_in;
    written beside `out_path` as STEM-p1.png, STEM-p2.png ... (atomically, each); returns them."""
    pages = _paginate(geom, layout)
    paths = page_paths(out_path, len(pages))
    # one page drawn and written at a time: 18 pages of a 40-minute programme held at once took 430 MB
    return [_write(fig, path, layout) for fig, path in zip(_page_figures(geom, layout, pages), paths)]


def page_paths(out_path: str | Path, count: int) -> list[Path]:
    """NAME.mtt.png -> NAME.mtt-p1.png, NAME.mtt-p2.png ..."""
    out = Path(out_path)
    return [out.with_name(f"{out.stem}-p{n}{out.suffix or '.png'}") for n in range(1, count + 1)]


def _write(fig, out_path: str | Path, layout: Layout) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=layout.dpi)
    return write_atomic(out_path, buf.getvalue())


def _canvas(width: float, height: float, dpi: int):
    """A Figure on the Agg canvas and an inch-coordinate axes over all of it, for words and keys."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    over = fig.add_axes((0, 0, 1, 1))
    over.set_xlim(0, width)
    over.set_ylim(0, height)
    over.axis("off")
    return fig, over


def _lanes_axes(fig, x: float, y: float, w: float, h: float, size: tuple[float, float]):
    width, height = size
    return fig.add_axes((x / width, y / height, w / width, h / height))


def overview_figure(geom: Geometry, layout: Layout = Layout(), paged: bool = False):
    """The Figure draw_geometry writes (tests look at its patches)."""
    starts = [rows[0].x0 for rows, _ in _paginate(geom, layout)] if paged else []
    marked = _marked(geom)
    n_lanes = max(1, len(geom.lanes))
    lanes_h = n_lanes * layout.lane
    zoom_lanes_h = n_lanes * layout.page_lane
    columns = 2 if len(geom.zooms) > 2 else 1
    zoom_rows = -(-len(geom.zooms) // columns)
    zoom_h = zoom_rows * (ZOOM_HEAD + zoom_lanes_h + layout.axis)
    legend = geom.legend[: layout.max_legend]
    height = (layout.title + lanes_h + layout.axis + zoom_h + _legend_height(legend, geom.legend, layout)
              + _lists_height(marked, layout) + 0.15)
    fig, over = _canvas(layout.width, height, layout.dpi)
    size = (layout.width, height)
    bottom = height - layout.title - lanes_h
    ax = _lanes_axes(fig, layout.left, bottom, layout.plot_width, lanes_h, size)
    _draw_lanes(ax, geom, _Span(layout.plot_width, layout.lane, layout.dpi), n_lanes)
    _draw_page_starts(ax, starts, n_lanes)
    _draw_title(over, geom.title, geom.subtitle, height)
    y = bottom - layout.axis
    column_w = layout.width / columns
    for i, zoom in enumerate(geom.zooms):  # the same lanes again, around each suggestion, at a scale where clips read
        col, row = i % columns, i // columns
        top = y - row * (ZOOM_HEAD + zoom_lanes_h + layout.axis)
        left = layout.left if columns == 1 else col * column_w + ZOOM_LEFT
        width = layout.plot_width if columns == 1 else column_w - ZOOM_LEFT - layout.right
        over.text(left - (0.75 if columns == 1 else 0.6), top - ZOOM_HEAD / 2, f"zoom {zoom.title}", fontsize=8.5,
                  fontweight="bold", va="center")
        zax = _lanes_axes(fig, left, top - ZOOM_HEAD - zoom_lanes_h, width, zoom_lanes_h, size)
        _draw_lanes(zax, geom, _Span(width, layout.page_lane, layout.dpi), n_lanes, window=zoom)
    y -= zoom_h
    y = _draw_legend(over, legend, len(geom.legend), layout, y)
    _draw_lists(over, marked, geom, layout, y, starts)
    return fig


def _draw_page_starts(ax, starts: list[float], n_lanes: int) -> None:
    """A line where each page starts and its number above the lanes (p1, p2 ...)."""
    for number, x in enumerate(starts, start=1):
        if number > 1:
            ax.axvline(x, color="#555555", lw=0.7, ls=(0, (1, 2)), zorder=4)
        ax.text(x, n_lanes + 0.02, f"p{number}", fontsize=6.5, color="#555555", ha="left", va="bottom", clip_on=False)


def page_figures(geom: Geometry, layout: Layout = Layout()) -> list:
    """One Figure a page: as many rows of the programme as fit in layout.page_rows_in, with the
    lanes that have something in them on that page only; then the sources on the page and the
    suggestions in it."""
    return list(_page_figures(geom, layout, _paginate(geom, layout)))


def _page_figures(geom: Geometry, layout: Layout, pages: list[tuple[list[Zoom], Geometry]]):
    for number, (rows, page) in enumerate(pages, start=1):
        lo, hi = rows[0].x0, min(rows[-1].x1, geom.extent_s)
        last = number == len(pages)
        marked = [r for r in _marked(page) if lo <= r.x0 < hi or (last and r.x0 >= hi)]
        legend = _page_legend(page, lo, hi)[: layout.max_legend]
        n_lanes = max(1, len(page.lanes))
        lanes_h = n_lanes * layout.page_lane
        row_h = ZOOM_HEAD + lanes_h + layout.axis
        height = (layout.title + len(rows) * row_h + _legend_height(legend, legend, layout)
                  + _lists_height(marked, layout) + 0.15)
        fig, over = _canvas(layout.width, height, layout.dpi)
        first, end = rows[0].title.split("-")[0], rows[-1].title.split("-")[-1]
        _draw_title(over, f"{geom.title}  —  page {number} of {len(pages)}: {first}-{end}", geom.subtitle, height)
        y = height - layout.title
        for row in rows:
            over.text(0.2, y - ZOOM_HEAD / 2, row.title, fontsize=8.5, fontweight="bold", va="center")
            ax = _lanes_axes(fig, layout.left, y - ZOOM_HEAD - lanes_h, layout.plot_width, lanes_h, (layout.width, height))
            _draw_lanes(ax, page, _Span(layout.plot_width, layout.page_lane, layout.dpi), n_lanes, window=row)
            y -= row_h
        y = _draw_legend(over, legend, len(legend), layout, y)
        _draw_lists(over, marked, page, layout, y)
        yield fig


def _paginate(geom: Geometry, layout: Layout) -> list[tuple[list[Zoom], Geometry]]:
    """Rows to pages, greedily: a page takes rows while they fit, each page drawing only the
    lanes with something in them there (a 20-track programme rarely uses every track at once)."""
    pages: list[tuple[list[Zoom], Geometry]] = []
    rows: list[Zoom] = []
    for row in geom.rows:
        candidate = _page_geometry(geom, [*rows, row])
        height = (len(rows) + 1) * (ZOOM_HEAD + max(1, len(candidate.lanes)) * layout.page_lane + layout.axis)
        if rows and height > layout.page_rows_in:
            pages.append((rows, _page_geometry(geom, rows)))
            rows = []
        rows.append(row)
    pages.append((rows, _page_geometry(geom, rows)))
    return pages


def _page_geometry(geom: Geometry, rows: list[Zoom]) -> Geometry:
    """The geometry with only the lanes that have a clip, a suggestion or a guess in these rows."""
    lo, hi = rows[0].x0, rows[-1].x1
    used = sorted({r.lane for r in geom.rects if r.lane >= 0 and r.x0 < hi and lo < r.x1})
    if not used:
        return geom
    index = {old: new for new, old in enumerate(used)}
    rects = [replace(r, lane=index[r.lane]) if r.lane >= 0 else r for r in geom.rects if r.lane < 0 or r.lane in index]
    return replace(geom, lanes=[geom.lanes[i] for i in used], rects=rects)


def _marked(geom: Geometry) -> list[Rect]:
    """The suggestions, for the lists: review items in their order, then next, then fill."""
    return geom.of_kind("review") + geom.of_kind("next") + geom.of_kind("fill")


def _page_legend(geom: Geometry, lo: float, hi: float) -> list[LegendEntry]:
    """The legend entries of the sources with a clip (or a suggested segment) on this page."""
    here = {r.source_key for r in geom.rects if r.kind in ("clip", "next", "fill") and r.x0 < hi and lo < r.x1}
    return [e for e in geom.legend if here.intersection(e.keys)]


def _draw_title(over, title: str, subtitle: str, height: float) -> None:
    over.text(0.2, height - 0.3, title, fontsize=12, fontweight="bold", va="center")
    over.text(0.2, height - 0.56, subtitle, fontsize=8.5, color="#555555", va="center")


@dataclass(frozen=True)
class _Span:
    """The size of a lanes axes: its width and one lane's height in inches, at dpi."""

    width: float
    lane: float
    dpi: int


def _draw_lanes(ax, geom: Geometry, span: _Span, n_lanes: int, window: Zoom | None = None) -> None:
    """The lanes over the whole picture, or over a zoom's `window` only (clips outside it left out)."""
    from matplotlib.patches import Rectangle

    extent = geom.extent_s if geom.extent_s > 0 else 1.0
    pad = extent * 0.005
    lo, hi = (-pad, extent + pad) if window is None else (window.x0, window.x1)
    if window is not None:  # cut at the window's edges, so names and badges start inside it
        rects = [replace(r, x0=max(r.x0, lo), x1=min(r.x1, hi)) for r in geom.rects if r.x0 < hi and lo < r.x1]
        geom = replace(geom, rects=rects, ticks=window.ticks)
    ax.set_xlim(lo, hi)
    ax.set_ylim(0, n_lanes)
    px_per_s = span.width * span.dpi / (hi - lo)
    px_per_lane = span.lane * span.dpi
    for i in range(n_lanes):
        ax.axhspan(i, i + 1, color="#f7f7f7" if i % 2 else "#ffffff", zorder=0, lw=0)
    for rect in geom.of_kind("gap"):
        ax.axvspan(rect.x0, rect.x1, color=GAP_COLOUR, zorder=0.5, lw=0)
    if geom.extent_s > geom.duration_s:
        ax.axvspan(geom.duration_s, geom.extent_s, color="#eaf2fb", zorder=0.5, lw=0)
    if geom.extent_s < hi:  # a page's last row runs past the programme: nothing there
        ax.axvspan(geom.extent_s, hi, color="#eeeeee", zorder=0.5, lw=0)
    if lo <= geom.duration_s <= hi:
        ax.axvline(geom.duration_s, color="#333333", lw=0.8, ls=(0, (4, 3)), zorder=4)
        ax.text(geom.duration_s, n_lanes, " end", fontsize=FONT, va="bottom", ha="left", color="#333333", clip_on=False)
    scale = _PixelScale(px_per_s, px_per_lane, geom.frame_size)
    for rect in geom.rects:
        if rect.kind == "clip":
            _draw_clip(ax, rect, scale)
        elif rect.kind in ("next", "fill"):
            _draw_suggested(ax, rect, scale)
        elif rect.kind == "prediction":
            alpha = SURE_ALPHA[int(np.digitize(rect.confidence, SURE_LEVELS))]
            ax.add_patch(Rectangle((rect.x0, rect.lane + PRED_Y[0]), rect.x1 - rect.x0, PRED_Y[1] - PRED_Y[0],
                                   facecolor=rect.colour, alpha=alpha, lw=0, zorder=2))
        elif rect.kind == "disagreement":
            ax.add_patch(Rectangle((rect.x0, rect.lane + DISAGREE_Y[0]), rect.x1 - rect.x0, DISAGREE_Y[1] - DISAGREE_Y[0],
                                   facecolor=REVIEW_COLOUR, lw=0, zorder=2))
    for rect in geom.of_kind("review"):
        _draw_review(ax, rect)
    if not geom.lanes:
        ax.text(extent / 2, 0.5, "no video in this sequence", ha="center", va="center", fontsize=10, color="#777777")
    _draw_axes(ax, geom)


@dataclass(frozen=True)
class _PixelScale:
    """Data units <-> pixels, for what must be a fixed size on screen (labels, frame diagrams)."""

    px_per_s: float
    px_per_lane: float
    frame_size: tuple[int, int]

    def diagram_px(self) -> tuple[float, float]:
        h = min(24.0, (CLIP_Y[1] - CLIP_Y[0]) * self.px_per_lane - 8)
        w, fh = self.frame_size
        return h * (w / fh if fh else 16 / 9), h


def _draw_clip(ax, rect: Rect, scale: _PixelScale) -> None:
    from matplotlib.patches import Rectangle

    y0, y1 = rect.lane + CLIP_Y[0], rect.lane + CLIP_Y[1]
    width_px = (rect.x1 - rect.x0) * scale.px_per_s
    see_through = rect.opacity < 99.5
    ax.add_patch(
        Rectangle(
            (rect.x0, y0), rect.x1 - rect.x0, y1 - y0,
            facecolor=rect.colour, edgecolor="white" if rect.enabled else "#888888",
            lw=0.6, ls="-" if rect.enabled else ":", zorder=2,
            alpha=max(MIN_ALPHA, min(rect.opacity, 100.0) / 100.0) if see_through else None,
        )
    )
    if see_through:  # paler alone could be read as another source's colour: dots say "see-through"
        ax.add_patch(Rectangle((rect.x0, y0), rect.x1 - rect.x0, y1 - y0, facecolor="none", lw=0, zorder=2.05,
                               edgecolor=_ink(rect.colour, 0.45), hatch=SEE_THROUGH_HATCH))
    used_px = 0.0
    if rect.frame is not None and rect.transformed:
        used_px = _draw_frame_diagram(ax, rect, scale, y0, y1)
        if not used_px:  # too narrow for a diagram: hatching says "scaled, moved or cropped"
            ax.add_patch(Rectangle((rect.x0, y0), rect.x1 - rect.x0, y1 - y0, facecolor="none", edgecolor=_ink(rect.colour, 0.55),
                                   hatch="////", lw=0, zorder=2.1))
    _label(ax, rect.x0, (y0 + y1) / 2, width_px - used_px, scale.px_per_s, rect.label, _ink(rect.colour))


def _draw_suggested(ax, rect: Rect, scale: _PixelScale) -> None:
    from matplotlib.patches import Rectangle

    y0, y1 = rect.lane + CLIP_Y[0], rect.lane + CLIP_Y[1]
    width_px = (rect.x1 - rect.x0) * scale.px_per_s
    ax.add_patch(Rectangle((rect.x0, y0), rect.x1 - rect.x0, y1 - y0, facecolor=rect.colour, alpha=0.35, lw=0, zorder=2))
    ax.add_patch(
        Rectangle((rect.x0, y0), rect.x1 - rect.x0, y1 - y0, facecolor="none", edgecolor=rect.colour, lw=1.4, ls=(0, (3, 2)), zorder=2.2)
    )
    used_px = _draw_frame_diagram(ax, rect, scale, y0, y1) if rect.transformed else 0.0
    room = width_px - used_px
    full = f"{rect.kind}: {rect.label}"  # the name alone when both do not fit: the dashes say "suggested"
    text = full if len(full) <= int((room - 6) / CHAR_PX) else rect.label
    _label(ax, rect.x0, (y0 + y1) / 2, room, scale.px_per_s, text, "#1a1a1a")
    _badge(ax, rect.x0, y1, rect.mark, SUGGESTED_INK)


LABEL_RESERVE_CHARS = 6  # a narrow clip keeps room for this much of its name before a frame diagram


def _draw_frame_diagram(ax, rect: Rect, scale: _PixelScale, y0: float, y1: float) -> float:
    """A small frame at the clip's right end, the visible part of the picture white, and the
    scale beside it when it is not 100 %; returns the pixels taken (0 when the clip is too narrow
    for it and the start of its name: the name wins, hatching says it is transformed)."""
    from matplotlib.patches import Rectangle

    w_px, h_px = scale.diagram_px()
    pad_px = 3.0
    scale_text = f"{rect.scale:.0f}%" if round(rect.scale) != 100 else ""
    text_px = (len(scale_text) * SMALL_CHAR_PX + pad_px) if scale_text else 0.0
    width_px = (rect.x1 - rect.x0) * scale.px_per_s
    name_px = min(len(rect.label), LABEL_RESERVE_CHARS) * CHAR_PX + 6 if rect.label else 0.0
    if width_px < w_px + 2 * pad_px + name_px or h_px <= 4:
        return 0.0
    if width_px < w_px + 2 * pad_px + text_px + name_px:
        scale_text, text_px = "", 0.0
    w = w_px / scale.px_per_s
    h = h_px / scale.px_per_lane
    x = rect.x1 - (w_px + pad_px) / scale.px_per_s
    y = (y0 + y1) / 2 - h / 2
    ax.add_patch(Rectangle((x, y), w, h, facecolor="#262626", lw=0, zorder=3))
    box: Box = rect.frame
    if not box.empty:  # y grows upwards in the plot, downwards in the frame
        ax.add_patch(
            Rectangle(
                (x + box.left * w, y + (1 - box.bottom) * h), (box.right - box.left) * w, (box.bottom - box.top) * h,
                facecolor="white", lw=0, zorder=3.1,
            )
        )
    ax.add_patch(Rectangle((x, y), w, h, facecolor="none", edgecolor="#262626", lw=0.8, zorder=3.2))
    if scale_text:
        ink = _ink(rect.colour) if rect.kind == "clip" else "#1a1a1a"
        ax.text(x - 2 / scale.px_per_s, (y0 + y1) / 2, scale_text, fontsize=SMALL_FONT, ha="right", va="center", color=ink, zorder=3.3)
    return w_px + 2 * pad_px + text_px


def _label(ax, x0: float, y: float, avail_px: float, px_per_s: float, text: str, colour: str) -> None:
    """The text, shortened to the room there is; nothing when not even a few letters fit."""
    chars = int((avail_px - 6) / CHAR_PX)
    if chars < 4 or not text:
        return
    ax.text(x0 + 3 / px_per_s, y, fit_name(text, chars), fontsize=FONT, color=colour, va="center", ha="left", zorder=3.5,
            clip_on=True)


def fit_name(text: str, chars: int) -> str:
    """A clip name in `chars` characters: whole, else without its file extension ('00693001.MOV'
    -> '00693001'), else cut with an ellipsis."""
    if len(text) <= chars:
        return text
    bare = re.sub(r"\.[A-Za-z0-9]{2,4}(?= \(\d+ %\)$|$)", "", text)
    return bare if len(bare) <= chars else shorten(bare, chars)


def shorten(text: str, chars: int) -> str:
    """At most `chars` characters, an ellipsis marking a cut (names often have no spaces)."""
    return text if len(text) <= chars else text[: max(chars - 1, 0)] + "…"


def _badge(ax, x: float, y: float, text: str, colour: str) -> None:
    """The suggestion's mark (R1, N2, F3) on the top edge of its box, where the lists name it."""
    if text:
        ax.text(x, y, text, fontsize=6.5, color="white", fontweight="bold", ha="center", va="center", zorder=5,
                bbox={"boxstyle": "round,pad=0.18", "facecolor": colour, "edgecolor": "none"})


def _draw_review(ax, rect: Rect) -> None:
    from matplotlib.patches import Rectangle

    y0, y1 = rect.lane + CLIP_Y[0] - 0.04, rect.lane + CLIP_Y[1] + 0.03
    ax.add_patch(Rectangle((rect.x0, y0), rect.x1 - rect.x0, y1 - y0, facecolor=REVIEW_COLOUR, alpha=0.12, lw=0, zorder=4))
    ax.add_patch(Rectangle((rect.x0, y0), rect.x1 - rect.x0, y1 - y0, facecolor="none", edgecolor=REVIEW_COLOUR, lw=1.8, zorder=4.1))
    _badge(ax, rect.x0, y1, rect.mark or rect.label, REVIEW_COLOUR)


def _draw_axes(ax, geom: Geometry) -> None:
    ax.set_yticks([i + (CLIP_Y[0] + CLIP_Y[1]) / 2 for i in range(len(geom.lanes))])
    ax.set_yticklabels([lane.label for lane in geom.lanes], fontsize=9, fontweight="bold")
    for i in range(len(geom.lanes)):
        ax.text(-0.004, i + (PRED_Y[0] + PRED_Y[1]) / 2, "model", transform=ax.get_yaxis_transform(),
                ha="right", va="center", fontsize=6, color="#777777")
    ax.tick_params(axis="y", length=0)
    ax.set_xticks([s for s, _ in geom.ticks])
    ax.set_xticklabels([tc for _, tc in geom.ticks], fontsize=7.5)
    ax.grid(axis="x", color="#dddddd", lw=0.6, zorder=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)


KEY_ROWS = 3  # the key of marks wraps to about this many rows at 16 inches


def _legend_height(shown: list[LegendEntry], every: list[LegendEntry], layout: Layout) -> float:
    rows = -(-len(shown) // layout.legend_columns)
    more = 0.6 if len(every) > len(shown) else 0.0
    return (rows + more + KEY_ROWS + 1.6) * layout.legend_row


def _draw_legend(over, shown: list[LegendEntry], total: int, layout: Layout, top: float) -> float:
    """Sources (colour, clip name, clip count), then what the marks mean; returns the y below."""
    from matplotlib.patches import Rectangle

    row = layout.legend_row
    col_w = (layout.width - 0.4) / layout.legend_columns
    y = top - row
    for n, entry in enumerate(shown):
        x = 0.2 + (n % layout.legend_columns) * col_w
        yy = y - (n // layout.legend_columns) * row
        over.add_patch(Rectangle((x, yy - 0.06), 0.22, 0.12, facecolor=entry.colour, lw=0))
        count = "" if entry.group else f" ({entry.clips})"
        others = f" +{len(entry.also)} names" if entry.also else ""
        room = int(col_w * 12.5) - 6 - len(count) - len(others)
        over.text(x + 0.3, yy, f"{shorten(entry.name, room) or '?'}{count}{others}", fontsize=7.5, va="center")
    rows = -(-len(shown) // layout.legend_columns)
    y -= rows * row
    if total > len(shown):
        over.text(0.2, y + row * 0.2, f"+ {total - len(shown)} more sources", fontsize=7.5, color="#555555", va="center")
        y -= row * 0.6
    y = _draw_key(over, y - row * 0.2, layout.width)
    return y - row * 1.2


def _draw_key(over, y: float, width: float) -> float:
    """What the marks mean, wrapped to the width; returns the y of the last row."""
    from matplotlib.patches import Rectangle

    entries = [
        ({"facecolor": "#1f77b4", "edgecolor": "#0b3a5a", "hatch": "////", "lw": 0}, "scaled/moved/cropped (mini frame: visible part white)"),
        ({"facecolor": "#1f77b4", "edgecolor": "#0b3a5a", "hatch": SEE_THROUGH_HATCH, "lw": 0, "alpha": 0.6},
         "see-through: opacity below 100 % (paler, dotted, % after the name)"),
        ({"facecolor": "#1f77b4", "lw": 0, "height": 0.06}, "model strip: its guess for each step (colour = source, paler = less sure)"),
        ({"facecolor": REVIEW_COLOUR, "lw": 0, "height": 0.04}, "model disagrees with the edit"),
        ({"facecolor": "#fbe0e0", "edgecolor": REVIEW_COLOUR, "lw": 1.5}, "review suggestion R1, R2 ... (listed below)"),
        ({"facecolor": "#c5daf0", "edgecolor": "#1f77b4", "lw": 1.2, "ls": (0, (3, 2))}, "next N1 ... / fill F1 ... (listed below)"),
        ({"facecolor": GAP_COLOUR, "lw": 0}, "gap (nothing on screen)"),
        ({"facecolor": DISABLED_COLOUR, "edgecolor": "#888888", "lw": 0.8, "ls": ":"}, "disabled clip or track"),
        ({"facecolor": UNKNOWN_COLOUR, "lw": 0, "height": 0.06}, "a source the model cannot name"),
    ]
    x = 0.2
    for style, text in entries:
        room = 0.45 + 0.057 * len(text)
        if x + room > width:
            x, y = 0.2, y - 0.22
        style = dict(style)
        h = style.pop("height", 0.13)
        over.add_patch(Rectangle((x, y - h / 2), 0.26, h, **style))
        over.text(x + 0.33, y, text, fontsize=7, va="center", color="#333333")
        x += room
    return y


def _lists_height(marked: list[Rect], layout: Layout) -> float:
    rows = 0.0
    for group in _groups(marked):
        rows += min(len(group), layout.max_listed) + (1 if len(group) > layout.max_listed else 0) + 1.5
    return rows * layout.review_row


def _groups(marked: list[Rect]) -> list[list[Rect]]:
    reviews = [r for r in marked if r.kind == "review"]
    segments = [r for r in marked if r.kind != "review"]
    return [g for g in (reviews, segments) if g]


def _draw_lists(over, marked: list[Rect], geom: Geometry, layout: Layout, top: float,
                page_starts: list[float] | None = None) -> None:
    """The review items (most confident first), then the next and fill segments, each under the
    mark its box carries, with the track and timecodes to find it in the editor."""
    row = layout.review_row
    y = top
    for group in _groups(marked):
        kind = "Review" if group[0].kind == "review" else "Next and fill"
        order = ", most confident first" if kind == "Review" else ""
        over.text(0.2, y, f"{kind} ({len(group)}{order})", fontsize=9, fontweight="bold", va="center")
        for n, rect in enumerate(group[: layout.max_listed], start=1):
            line = _list_line(rect, geom)
            if page_starts:  # the page to turn to: the last one starting at or before the item
                line = line.replace(". ", f". page {sum(x <= rect.x0 for x in page_starts) or 1}, ", 1)
            text = textwrap.shorten(line, width=int(layout.width * 15.5), placeholder=" …")
            over.text(0.2, y - n * row, text, fontsize=7.5, va="center", color="#222222")
        shown = min(len(group), layout.max_listed)
        if len(group) > shown:
            over.text(0.2, y - (shown + 1) * row, f"+ {len(group) - shown} more", fontsize=7.5, color="#555555", va="center")
            shown += 1
        y -= (shown + 1.5) * row


def _list_line(rect: Rect, geom: Geometry) -> str:
    lane = geom.lanes[rect.lane].label
    mark = rect.mark or rect.label
    confidence = f"({rect.confidence:.2f})" if rect.confidence is not None else ""
    if rect.kind == "review":  # (textwrap.shorten folds runs of spaces: the punctuation separates)
        return f"{mark}. {lane} {rect.span} {rect.field} {confidence}: {rect.reason}"
    media = f", source in {rect.source_in}, out {rect.source_out}" if rect.source_in is not None else ""
    return f"{mark}. {lane} {rect.span} {rect.kind}: {rect.label}{media}, scale {rect.scale:.0f} % {confidence}"


def _ink(hex_colour: str, strength: float = 1.0) -> str:
    """Black or white, whichever reads on this colour (strength < 1 blends it toward the colour)."""
    r, g, b = (int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    light = 0.299 * r + 0.587 * g + 0.114 * b > 0.6
    ink = 0.0 if light else 1.0
    mix = [ink * strength + c * (1 - strength) for c in (r, g, b)]
    return "#{:02x}{:02x}{:02x}".format(*(round(v * 255) for v in mix))
