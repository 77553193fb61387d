"""The palette in a colour space: fitted (sRGB or Oklab), snapped (opaque stays opaque), given, and mapped.

Points: K-means and the nearest-entry search work on points. In the space "rgb" a colour's point is its
sRGB values; in "oklab", its Oklab coordinates with a and b doubled (Ottosson's ΔEOK2), shifted and
scaled into the 0..255 box (colorquant._oklab). With
transparency a point has four coordinates: those three times alpha / 255 (premultiplied), and alpha. So
in both spaces a pixel weighs by its alpha, invisible pixels all meet at (0, 0, 0, 0), and alpha counts
on the same 0..255 scale as the colour.
"""
import numbers
import os

import numpy as np
from PIL import Image

from ._colors import _decode_colors, _premultiply, _unpremultiply
from ._kmeans import _fit_palette, _threadpools, nearest
from ._oklab import _from_points, _to_points
from ._read import _read_image

SPACES = ("rgb", "oklab")
_SNAP_ITERATIONS = 10      # constrained Lloyd iterations after snapping entries to alpha 255 (they converge
                           # in 3 to 6 on the feathered tulips and the icon sheet)


def _check_space(space):
    """The space name, checked: 'rgb' or 'oklab' (any case)."""
    if not isinstance(space, str) or space.lower() not in SPACES:
        raise ValueError(f"space must be 'rgb' or 'oklab', got {space!r}")
    return space.lower()


def _check_dither(dither):
    """The dithering strength as a float from 0 to 1: True is 1, False 0."""
    if isinstance(dither, bool | np.bool_):
        return float(dither)
    if isinstance(dither, numbers.Real) and 0 <= float(dither) <= 1:   # NaN fails the comparison
        return float(dither)
    raise ValueError(f"dither must be a number from 0 to 1 (or True / False), got {dither!r}")


def _points(colors, space):
    """The K-means points of (N, 3) RGB or (N, 4) RGBA uint8 colours in this space (see the module)."""
    colors = np.asarray(colors)
    if space == "rgb":
        return colors if colors.shape[1] == 3 else _premultiply(colors)
    lab = _to_points(colors[:, :3])
    if colors.shape[1] == 3:
        return lab
    alpha = colors[:, 3:].astype(np.float64)
    return np.concatenate([lab * (alpha / 255), alpha], axis=1)


def _entries(points, space):
    """uint8 palette entries (RGB, or RGBA from 4 columns) of points in this space, rounded."""
    points = np.asarray(points, dtype=np.float64)
    if space == "rgb":
        return np.clip(np.rint(points), 0, 255).astype(np.uint8) if points.shape[1] == 3 \
            else _unpremultiply(points)
    if points.shape[1] == 3:
        return _from_points(points)
    alpha = np.clip(np.rint(points[:, 3]), 0, 255)
    with np.errstate(divide="ignore", invalid="ignore"):
        shown = points[:, :3] * 255 / np.maximum(points[:, 3:], 1e-9)
        colors = _from_points(np.where(alpha[:, None] > 0, shown, 0))
    colors[alpha == 0] = 0
    return np.column_stack([colors, alpha.astype(np.uint8)])


def _fit(points, weights, n_colors, seed, fixed=None):
    """K-means centres of the points (colorquant._kmeans), in one thread: its products are small."""
    with _threadpools().limit(limits=1):
        return _fit_palette(points, weights, n_colors, seed, fixed)


def _with_alpha(colors):
    """(N, 4) RGBA of (N, 3) RGB (opaque) or (N, 4) RGBA uint8 colours."""
    colors = np.asarray(colors, dtype=np.uint8)
    return colors if colors.shape[1] == 4 else np.column_stack([colors, np.full(len(colors), 255, np.uint8)])


def _map_colors(colors, palette, space, points=None):
    """The palette index of each colour: its nearest entry in this space, opaque colours on opaque entries.

    colors: (N, 3) or (N, 4) uint8; palette: (n, 3) or (n, 4) uint8. When either has alpha, the search runs
    on premultiplied points and a colour with alpha 255 takes the nearest entry with alpha 255 (when the
    palette has one); a fully transparent colour lands on a fully transparent entry, all of whose points are
    (0, 0, 0, 0) (the first such entry: nearest returns the first of equals). points: the colours' points
    when known already (with the colours' own number of columns).
    """
    colors, palette = np.asarray(colors), np.asarray(palette)
    if colors.shape[1] == palette.shape[1] == 3:
        return nearest(_points(colors, space) if points is None else points, _points(palette, space))
    if points is None or colors.shape[1] == 3:
        points = _points(_with_alpha(colors), space)
    colors, palette = _with_alpha(colors), _with_alpha(palette)
    entry_points = _points(palette, space)
    index = nearest(points, entry_points)
    opaque_entries = np.flatnonzero(palette[:, 3] == 255)
    opaque = colors[:, 3] == 255
    if len(opaque_entries) and opaque.any():
        index[opaque] = opaque_entries[nearest(points[opaque], entry_points[opaque_entries])]
    return index


def _opaque_palette(colors, weights, n_colors, seed, space):
    """Palette ((n, 3) uint8) fitted to distinct opaque colours, and each colour's entry."""
    points = _points(colors, space)
    palette = _entries(_fit(points, weights, n_colors, seed), space)
    return palette, _map_colors(colors, palette, space, points)


def _snap_opaque(points, weights, opaque, centres, n_fixed):
    """Centres with some set to alpha 255, refined so that opaque points use only those (premultiplied).

    A free centre becomes opaque when opaque points carry at least half its weight (and the one with the
    most opaque weight does when none would). Then constrained Lloyd iterations: opaque points take the
    nearest opaque centre, the others the nearest centre; each free centre moves to the weighted mean of
    its points, an opaque one keeping alpha 255. Returns the centres and which are opaque.
    """
    k = len(centres)
    labels = nearest(points, centres)
    mass = np.bincount(labels, weights=weights, minlength=k)
    opaque_mass = np.bincount(labels[opaque], weights=weights[opaque], minlength=k)
    opaque_mass[:n_fixed] = -1
    flags = (opaque_mass > 0) & (2 * opaque_mass >= mass)
    if not flags.any():
        flags[np.argmax(opaque_mass)] = True
    centres = np.array(centres, dtype=np.float64)
    centres[flags, 3] = 255
    chosen = np.flatnonzero(flags)
    labels = None
    for _ in range(_SNAP_ITERATIONS):
        moved = nearest(points, centres)
        moved[opaque] = chosen[nearest(points[opaque], centres[chosen])]
        if labels is not None and np.array_equal(moved, labels):
            break
        labels = moved
        mass = np.bincount(labels, weights=weights, minlength=k)
        sums = np.stack([np.bincount(labels, weights=weights * points[:, c], minlength=k) for c in range(4)],
                        axis=1)
        free = np.arange(k) >= n_fixed
        update = free & (mass > 0)
        centres[update] = sums[update] / mass[update, None]
        centres[flags, 3] = 255
    return centres, flags


def _transparent_palette(colors, weights, n_colors, seed, space):
    """Palette ((n, 4) uint8 RGBA) fitted to distinct RGBA colours with transparency, and each colour's entry.

    colors: (N, 4) uint8 with invisible pixels as (0, 0, 0, 0); weights: pixel counts. As pngquant does it,
    with on/off alpha one entry is fully transparent and the others are fitted to the visible colours; with
    graded alpha K-means runs on premultiplied points with a fully transparent entry held fixed when some
    pixels are invisible (it counts towards n_colors). Then opaque stays opaque (_snap_opaque): every colour
    with alpha 255 gets an entry with alpha 255, and every invisible one the transparent entry.
    """
    clear_rows = colors[:, 3] == 0
    clear = bool(clear_rows.any())
    visible = ~clear_rows
    if clear and n_colors > 1 and colors[visible, 3].min(initial=255) == 255:   # on/off alpha
        opaque, _ = _opaque_palette(colors[visible, :3], weights[visible], n_colors - 1, seed, space)
        palette = np.vstack([np.zeros((1, 4), np.uint8), _with_alpha(opaque)])
        return palette, _map_colors(colors, palette, space)
    points = _points(colors, space)
    fixed = np.zeros((1, 4)) if clear and n_colors > 1 else None
    centres = _fit(points, weights, n_colors, seed, fixed)
    opaque = colors[:, 3] == 255
    flags = np.zeros(len(centres), dtype=bool)
    if opaque.any():
        centres, flags = _snap_opaque(points, weights, opaque, centres, 0 if fixed is None else 1)
    palette = _entries(centres, space)
    palette[flags, 3] = 255
    return palette, _map_colors(colors, palette, space, points)


def _read_palette(palette, name="palette"):
    """A given palette as (n, 3) RGB or (n, 4) RGBA uint8 rows, 1 <= n <= 256.

    palette: an array of RGB or RGBA rows (uint8, or ints from 0 to 255), or an image (a PIL image, a path
    or a binary file object of an image file): a 'P' image's
    palette in its order (with its alpha when it has any), otherwise the image's distinct colours (RGB, or
    RGBA when some have alpha below 255) in the order of their codes (red, then green, then blue fastest).
    """
    if isinstance(palette, str | os.PathLike) or hasattr(palette, "read"):   # an image file
        palette, read_name = _read_image(palette)
        name = f"palette {read_name!r}" if name == "palette" else name
    if isinstance(palette, Image.Image):
        if palette.mode == "P":
            rows = np.array(palette.getpalette("RGBA") or [], dtype=np.uint8).reshape(-1, 4)
            transparency = palette.info.get("transparency")
            if isinstance(transparency, bytes):
                rows[:len(transparency), 3] = np.frombuffer(transparency, np.uint8)[:len(rows)]
            elif isinstance(transparency, int) and transparency < len(rows):
                rows[transparency, 3] = 0
        else:
            pixels = np.ascontiguousarray(np.asarray(palette.convert("RGBA")))
            rows = _decode_colors(np.unique(pixels.view("<u4").ravel()), alpha=True)
            if len(rows) > 256:
                raise ValueError(f"{name} has {len(rows)} colours; a palette has at most 256")
        if len(rows) and rows[:, 3].min() == 255:
            rows = rows[:, :3]
    else:
        array = np.asarray(palette)
        if array.size == 0:
            raise ValueError(f"{name} must have 1 to 256 colours, got 0")
        if array.ndim != 2 or array.shape[1] not in (3, 4) or not (np.issubdtype(array.dtype, np.integer)
                                                                 or array.dtype == bool):
            raise ValueError(f"{name} must be (n, 3) RGB or (n, 4) RGBA rows of ints from 0 to 255, "
                             f"got shape {array.shape} of dtype {array.dtype}")
        if array.size and (array.min() < 0 or array.max() > 255):
            raise ValueError(f"{name} must hold ints from 0 to 255, got values from {array.min()} to "
                             f"{array.max()}")
        rows = array.astype(np.uint8)
    if not 1 <= len(rows) <= 256:
        raise ValueError(f"{name} must have 1 to 256 colours, got {len(rows)}")
    return np.ascontiguousarray(rows)


def _dither(rgba, palette, strength, space):
    """The (H, W) uint8 index of rgba ((H, W, 4) uint8) on the palette, Floyd-Steinberg dithered."""
    from ._dither import _dither_index  # numba, imported only when an image is dithered

    has_alpha = palette.shape[1] == 4
    entries = _with_alpha(palette) if has_alpha else palette
    clear = np.flatnonzero(entries[:, 3] == 0) if has_alpha else np.zeros(0, np.intp)
    return _dither_index(rgba, _points(entries, space), strength, oklab=space == "oklab",
                         opaque_entry=entries[:, 3] == 255 if has_alpha else None,
                         clear_entry=clear[0] if len(clear) else -1)
