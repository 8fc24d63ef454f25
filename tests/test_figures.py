"""What every figure of the library shows, compared with its reviewed description.

The figures (the lecture's, the comparison's charts, the search's heat map, ``show-hog``'s
picture) are described as plain data: the figure's size and resolution, and for every axes its
titles, labels, scales, fixed limits and ticks, legend, and each line, collection, image, bar
and text with its style. The description is compared with the one stored in
``tests/__snapshots__/test_figures.ambr`` (syrupy), so that a changed title, colour, line
width, limit or layout fails here until the new picture is looked at and the description is
updated on purpose:

    python -m pytest tests/test_figures.py --snapshot-update

Drawn data are left out where they come from a fit (loss curves, accuracies in titles: their
decimals are written ``#``), so that the descriptions hold on every CPU; the comparison and
search charts are drawn from fixed results, so that their numbers are kept.
"""

import re
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_hex
from matplotlib.container import BarContainer
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator

from pipelines import cli
from pipelines.lecture import FIGURES, draw

_DECIMAL = re.compile(r"\d+\.\d+(?:e[-+]?\d+)?|\d+e[-+]?\d+")


def _text(value, mask):
    return _DECIMAL.sub("#", value) if mask else value


def _number(value):
    value = float(value)
    if value != 0 and abs(value) < 1e-3:  # 1e-18 on a log axis is not 0
        return float(f"{value:.4g}")
    return float(np.round(value, 4))


def _color(value):
    return to_hex(value, keep_alpha=True)


def _colors(values):
    values = np.atleast_2d(values)
    return sorted({_color(v) for v in values}) if values.size else []


def _legend(legend, mask):
    if legend is None:
        return None
    return {
        "texts": [_text(t.get_text(), mask) for t in legend.get_texts()],
        "loc": legend._loc,  # the code of its loc= (or a bbox anchor)
        "ncols": legend._ncols,
        "fontsize": _number(legend.get_texts()[0].get_fontsize()) if legend.get_texts() else None,
        "frame": legend.get_frame_on(),
    }


def _line(line, mask):
    return {
        "label": _text(line.get_label(), mask),
        "color": _color(line.get_color()),
        "width": _number(line.get_linewidth()),
        "style": line.get_linestyle(),
        "marker": str(line.get_marker()),
        "markersize": _number(line.get_markersize()),
        "zorder": _number(line.get_zorder()),
    }


def _collection(collection):
    described = {"type": type(collection).__name__, "label": collection.get_label()}
    if collection.get_array() is not None and collection.get_cmap() is not None:
        described["cmap"] = collection.get_cmap().name
    else:
        described["facecolors"] = _colors(collection.get_facecolor())
    described["alpha"] = collection.get_alpha()
    if hasattr(collection, "get_sizes"):
        described["sizes"] = sorted({_number(s) for s in collection.get_sizes()})
    if hasattr(collection, "levels"):  # the code's, or "nice" ones over an analytic surface
        described["levels"] = [float(f"{v:.4g}") for v in collection.levels]
        if collection.filled:  # regions of a classifier: the box they are drawn over
            box = collection.get_datalim(collection.axes.transData)
            described["extent"] = [_number(v) for v in (box.x0, box.x1, box.y0, box.y1)]
    if not getattr(collection, "filled", True):
        described["edgecolors"] = _colors(collection.get_edgecolor())
        described["linewidths"] = sorted({_number(w) for w in collection.get_linewidth()})
    return described


def _image(image):
    return {
        "shape": list(image.get_array().shape),
        "cmap": image.get_cmap().name if image.get_array().ndim == 2 else None,
        "interpolation": image.get_interpolation(),
        "aspect": image.axes.get_aspect(),
    }


def _patch(patch):
    return {
        "type": type(patch).__name__,
        "xy": [_number(v) for v in patch.get_xy()] if hasattr(patch, "get_xy") else None,
        "label": patch.get_label(),
        "width": _number(patch.get_width()) if hasattr(patch, "get_width") else None,
        "height": _number(patch.get_height()) if hasattr(patch, "get_height") else None,
        "facecolor": _color(patch.get_facecolor()),
        "edgecolor": _color(patch.get_edgecolor()),
        "fill": patch.get_fill(),
        "linewidth": _number(patch.get_linewidth()),
    }


def _axis(ax, name, mask):
    axis = getattr(ax, f"{name}axis")
    described = {
        "label": _text(axis.get_label().get_text(), mask),
        "fontsize": _number(axis.get_label().get_fontsize()),
        "scale": axis.get_scale(),
        "visible": axis.get_visible(),
        "formatter": type(axis.get_major_formatter()).__name__,
    }
    if not getattr(ax, f"get_autoscale{name}_on")():  # limits the code set
        described["limits"] = [_number(v) for v in getattr(ax, f"get_{name}lim")()]
    if not mask or isinstance(axis.get_major_locator(), FixedLocator):  # not from a fit
        low, high = sorted(axis.get_view_interval())
        locs = [v for v in axis.get_majorticklocs() if low <= v <= high]
        labels = axis.get_major_formatter().format_ticks(locs)
        described["ticks"] = [_text(text, mask) for text in labels]
        shown = getattr(ax, f"get_{name}ticklabels")()
        if shown:  # their rotation and alignment
            described["tick_style"] = [
                _number(shown[0].get_rotation()),
                shown[0].get_horizontalalignment(),
                shown[0].get_rotation_mode(),
            ]
    grid = axis.get_gridlines()
    if grid and grid[0].get_visible():
        described["grid"] = _color(grid[0].get_color())
    return described


def _axes(ax, mask):
    containers = [c for c in ax.containers if isinstance(c, BarContainer) and len(c)]
    bars = {id(p) for c in containers for p in c}
    return {
        "titles": {
            loc: [_text(title.get_text(), mask), _number(title.get_fontsize())]
            for loc, title in (
                ("left", ax._left_title),
                ("center", ax.title),
                ("right", ax._right_title),
            )
            if title.get_text()
        },
        "on": ax.axison,
        "x": _axis(ax, "x", mask),
        "y": _axis(ax, "y", mask),
        "aspect": ax.get_aspect(),
        "lines": [_line(line, mask) for line in ax.get_lines()],
        "collections": [_collection(c) for c in ax.collections],
        "images": [_image(image) for image in ax.get_images()],
        "bars": [{"label": c.get_label(), "n": len(c), **_patch(c[0])} for c in containers],
        "patches": [_patch(p) for p in ax.patches if id(p) not in bars],
        "texts": [
            {
                "text": _text(t.get_text(), mask),
                "fontsize": _number(t.get_fontsize()),
                "fontweight": t.get_fontweight(),
                "color": _color(t.get_color()),
                "align": [t.get_horizontalalignment(), t.get_verticalalignment()],
                # where (not for a fit's figure: its texts sit at data the fit decides)
                "at": None if mask else [_number(v) for v in getattr(t, "xy", t.get_position())],
                "offset": [_number(v) for v in t.xyann] if hasattr(t, "xyann") else None,
            }
            for t in ax.texts
        ],
        "legend": _legend(ax.get_legend(), mask),
    }


def describe(figure, mask=False):
    """The description of ``figure`` (and of its subfigures) as plain data."""
    described = {
        "suptitle": (
            [_text(figure._suptitle.get_text(), mask), _number(figure._suptitle.get_fontsize())]
            if figure._suptitle
            else None
        ),
        "legends": [_legend(legend, mask) for legend in figure.legends],
        "axes": [_axes(ax, mask) for ax in figure.axes if ax.figure is figure],
        "subfigures": [describe(sub, mask) for sub in figure.subfigs],
    }
    if isinstance(figure, Figure):
        described["size"] = [_number(v) for v in figure.get_size_inches()]
        described["dpi"] = _number(figure.get_dpi())
        engine = figure.get_layout_engine()
        described["layout"] = type(engine).__name__ if engine else None
    return described


# -- the lecture ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(FIGURES))
def test_lecture_figure(name, snapshot):
    # the figures as the script draws them (fast=False): under 3 s each
    assert describe(draw(name), mask=True) == snapshot


# -- the comparison's report ------------------------------------------------------------------
def _rows():
    confusion = np.array([[8, 1, 1], [0, 9, 1], [2, 0, 8]])
    row = {
        "pipeline": "hog-svm",
        "accuracy": 0.8333,
        "macro_f1": 0.8301,
        "fit_seconds": 2.5,
        "predict_images_per_s": 1500.0,
        "n_features": 1764,
        "iterations": 11,
        "stopped": "converged",
        "note": "",
        "confusion": confusion,
    }
    second = {
        **row,
        "pipeline": "pixels-svm",
        "accuracy": 0.7,
        "macro_f1": 0.6952,
        "fit_seconds": 0.4,
        "predict_images_per_s": 25000.0,
        "n_features": 192,
        "confusion": np.array([[7, 2, 1], [1, 7, 2], [2, 1, 7]]),
    }
    failed = {
        **row,
        "pipeline": "broken",
        "accuracy": np.nan,
        "macro_f1": np.nan,
        "fit_seconds": np.nan,
        "predict_images_per_s": np.nan,
        "n_features": 0,
        "iterations": "",
        "stopped": "",
        "note": "failed: on purpose",
        "confusion": None,
    }
    return [row, second, failed]


@pytest.mark.parametrize("chance", ["off the axis", "on the axis"])
def test_comparison_report_figures(chance, tmp_path, monkeypatch, snapshot):
    import pipelines.compare

    rows = _rows()
    if chance == "on the axis":  # a weak pipeline brings the axes down to 1/3
        rows[1] = {**rows[1], "accuracy": 0.4, "macro_f1": 0.38}
    else:  # 600 test images and two good pipelines: 1/3 is far left of the axis
        first = np.array([[190, 5, 5], [3, 194, 3], [4, 4, 192]])
        second = np.array([[180, 10, 10], [8, 184, 8], [10, 8, 182]])
        rows[0] = {**rows[0], "accuracy": 0.96, "macro_f1": 0.96, "confusion": first}
        rows[1] = {**rows[1], "accuracy": 0.91, "macro_f1": 0.91, "confusion": second}
    saved = {}

    def keep(figure, path, **options):  # what is written, at which resolution
        saved[Path(path).name] = {"options": options, "figure": describe(figure)}

    monkeypatch.setattr(Figure, "savefig", keep)
    written = pipelines.compare.write_report(
        rows, tmp_path, ["cat", "dog", "eel"], title="three classes: 60 train / 30 test"
    )
    assert [p.name for p in written] == [
        "results.csv",
        "results.md",
        "accuracy.png",
        "speed.png",
        "confusion-hog-svm.png",
        "confusion-pixels-svm.png",
    ]
    assert list(saved) == [p.name for p in written[2:]]
    label = saved["accuracy.png"]["figure"]["axes"][0]["x"]["label"]
    assert ("left of the axis" in label) is (chance == "off the axis"), label
    assert saved == snapshot
    # and the table beside them, as Markdown and CSV
    assert (tmp_path / "results.md").read_text() == snapshot
    assert (tmp_path / "results.csv").read_text() == snapshot


# -- the search's heat map --------------------------------------------------------------------
def test_search_heatmap_figure(tmp_path, monkeypatch, snapshot):
    from pipelines.search import SearchResult, write_search_report

    grid = {"clf__C": [0.001, 0.1, 10.0], "features__pixels_per_cell": [(4, 4), (8, 8)]}
    params = [
        {"clf__C": c, "features__pixels_per_cell": p}
        for c in grid["clf__C"]
        for p in grid["features__pixels_per_cell"]
    ]
    scores = [0.81, 0.79, 0.9312, 0.88, np.nan, 0.85]
    results = {"params": params, "mean_test_score": scores}
    result = SearchResult(
        results,
        params[2],
        0.9312,
        None,
        grid,
        3.0,
        pipeline="hog-svm",
        n_folds=3,
        scoring="balanced_accuracy",
    )
    saved = {}

    def keep(figure, path, **options):
        saved[Path(path).name] = {"options": options, "figure": describe(figure)}

    monkeypatch.setattr(Figure, "savefig", keep)
    written = write_search_report(result, tmp_path)
    assert [p.name for p in written] == ["cv_results.csv", "best_params.json", "heatmap.png"]
    assert saved == snapshot
    # and the files beside it, as the comparison's table
    assert (tmp_path / "best_params.json").read_text() == snapshot
    assert (tmp_path / "cv_results.csv").read_text() == snapshot


# -- show-hog ---------------------------------------------------------------------------------
@pytest.mark.parametrize("grey", [False, True])
def test_show_hog_figure(grey, tmp_path, monkeypatch, capsys, snapshot):
    import cv2

    saved = []
    monkeypatch.setattr(
        Figure, "savefig", lambda self, path, **options: saved.append((self, options))
    )
    image = np.random.default_rng(3).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    path = tmp_path / "photo.png"
    assert cv2.imwrite(str(path), image)
    argv = ["show-hog", str(path), "--out", str(tmp_path / "hog.png"), "-q"]
    assert cli.main(argv + (["--grey"] if grey else [])) == 0
    ((figure, options),) = saved
    assert {"options": options, "figure": describe(figure)} == snapshot
