"""Drawing helpers shared by the reports: figures through matplotlib's object API only.

Every figure here is a :class:`matplotlib.figure.Figure` saved with ``Figure.savefig``, which
renders with Agg for PNG files: nothing imports ``matplotlib.pyplot`` or calls
``matplotlib.use``, so the backend of the user's session (a notebook's inline or widget
backend, a GUI) is left as it was, and no figure is kept in pyplot's global list.
"""

import numpy as np


def text_color(rgba):
    """Black or white, whichever contrasts more with the colour ``rgba`` (WCAG 2 ratio).

    Parameters
    ----------
    rgba : sequence of float
        Red, green, blue (and alpha, ignored) in [0, 1].

    Returns
    -------
    color : {"black", "white"}

    Examples
    --------
    >>> from pipelines._charts import text_color
    >>> text_color((0.99, 0.91, 0.14)), text_color((0.27, 0.0, 0.33))  # viridis' ends
    ('black', 'white')
    """
    channels = np.asarray(rgba[:3], dtype=float)
    linear = np.where(channels <= 0.04045, channels / 12.92, ((channels + 0.055) / 1.055) ** 2.4)
    luminance = float(linear @ [0.2126, 0.7152, 0.0722])
    # contrast with black (L + 0.05) / 0.05 against with white 1.05 / (L + 0.05)
    return "black" if (luminance + 0.05) ** 2 > 0.05 * 1.05 else "white"


def annotated_grid(ax, values, *, fmt, cmap="viridis", vmin=None, vmax=None, outline=None):
    """Draw ``values`` as coloured cells with their numbers, readable on every colour.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    values : ndarray of shape (rows, cols)
        NaN cells stay blank and are marked "n/a".
    fmt : str
        Format of the numbers, such as "{:.3f}".
    cmap : str, default="viridis"
    vmin, vmax : float or None
        The colour scale's range (default: the finite values' range).
    outline : tuple of (int, int) or None
        A cell (row, col) to draw a thick frame around, and to write in bold.

    Returns
    -------
    image : matplotlib.image.AxesImage
        For a colour bar.
    """
    from matplotlib import colormaps
    from matplotlib.colors import Normalize
    from matplotlib.patches import Rectangle

    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    low = vmin if vmin is not None else (finite.min() if finite.size else 0.0)
    high = vmax if vmax is not None else (finite.max() if finite.size else 1.0)
    norm = Normalize(low, high if high > low else low + 1e-12)
    colors = colormaps[cmap]
    image = ax.imshow(np.ma.masked_invalid(values), cmap=colors, norm=norm, aspect="auto")
    for (row, col), value in np.ndenumerate(values):
        if not np.isfinite(value):
            ax.text(col, row, "n/a", ha="center", va="center", color="0.4", fontsize=8)
            continue
        bold = outline is not None and (row, col) == tuple(outline)
        ax.text(
            col,
            row,
            fmt.format(value),
            ha="center",
            va="center",
            color=text_color(colors(norm(value))),
            fontweight="bold" if bold else "normal",
        )
    if outline is not None:
        row, col = outline
        # a black frame inside a white one: visible on every colour of the map
        for width, color in ((5, "white"), (2.5, "black")):
            ax.add_patch(
                Rectangle(
                    (col - 0.5, row - 0.5), 1, 1, fill=False, edgecolor=color, linewidth=width
                )
            )
    return image


def accuracy_limits(values, chance=None):
    """An axis range for accuracies that shows their differences, ending at most at 1.

    The range spans the values with a margin of a quarter of their spread (at least 0.02),
    and reaches down to ``chance`` only when that costs less than half of the axis.

    Parameters
    ----------
    values : array-like of float
        Accuracies in [0, 1]; NaN values are ignored.
    chance : float or None
        The chance level, 1 / number of classes.

    Returns
    -------
    low, high : float

    Examples
    --------
    >>> from pipelines._charts import accuracy_limits
    >>> [round(v, 3) for v in accuracy_limits([0.9, 0.98], chance=0.1)]
    [0.88, 1.0]
    >>> [round(v, 3) for v in accuracy_limits([0.3, 0.5], chance=0.1)]
    [0.05, 0.55]
    """
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0
    lowest, highest = float(values.min()), float(values.max())
    margin = max(0.25 * (highest - lowest), 0.02)
    low, high = lowest - margin, min(1.0, highest + margin)
    if chance is not None and chance < low and (high - chance) < 2 * (high - low):
        low = chance - margin
    return max(0.0, low), high


def save(figure, path, *, dpi=100):
    """Write ``figure`` to ``path`` (the format from the suffix); return ``path``."""
    figure.savefig(path, dpi=dpi)
    return path
