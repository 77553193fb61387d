"""Floyd-Steinberg dithering with a strength, compiled with numba (imported only when an image is dithered).

Without numba the same functions run as plain Python: the same indices, much more slowly.

Each pixel, in serpentine order (rows alternately left to right and right to left, as pngquant scans), takes
the palette entry nearest to its colour plus the error carried to it; the error of that choice, times the
strength, goes on to the unvisited neighbours with Floyd and Steinberg's weights (7/16 ahead, 3/16, 5/16 and
1/16 on the next row). The error is diffused in the space the palette was fitted in: sRGB values, or Oklab
(a and b doubled) in the 0..255 box (colorquant._oklab), premultiplied by alpha with alpha as a fourth
channel when the image has transparency. Fully transparent pixels take the transparent entry and pass no
error on; opaque pixels take an opaque entry when the palette has one.
"""
import numpy as np

try:
    import numba
except ImportError:                  # no numba: the same functions run as plain Python (slowly)
    numba = None

from ._oklab import _LINEAR_TABLE, _LMS_TO_LAB, _OFFSET, _RGB_TO_LMS, _SCALE


def _compiled(**options):
    """numba.njit with its compiled code cached (beside the package, else in the user's cache directory);
    compiled in each process where neither is writable (RuntimeError); plain Python without numba."""
    def decorate(function):
        if numba is None:
            return function
        try:
            return numba.njit(cache=True, **options)(function)
        except RuntimeError:
            return numba.njit(**options)(function)
    return decorate


_BRUTE_FORCE = 48   # up to this many entries every one is measured (about twice as fast at k = 16 as the
                    # search from a guess, which wins at k = 256: 24 MP in 6 s against 10 s)


@_compiled(inline="always")
def _target(rgba, y, x, oklab, alpha, linear, to_lms, to_lab, offset, scale):
    """The pixel's colour in the working space: 4 floats (alpha, or 0 for an opaque fit, last)."""
    if oklab:
        red, green, blue = linear[rgba[y, x, 0]], linear[rgba[y, x, 1]], linear[rgba[y, x, 2]]
        long = np.cbrt(to_lms[0, 0] * red + to_lms[0, 1] * green + to_lms[0, 2] * blue)
        medium = np.cbrt(to_lms[1, 0] * red + to_lms[1, 1] * green + to_lms[1, 2] * blue)
        short = np.cbrt(to_lms[2, 0] * red + to_lms[2, 1] * green + to_lms[2, 2] * blue)
        v0 = (to_lab[0, 0] * long + to_lab[0, 1] * medium + to_lab[0, 2] * short + offset[0]) * scale[0]
        v1 = (to_lab[1, 0] * long + to_lab[1, 1] * medium + to_lab[1, 2] * short + offset[1]) * scale[1]
        v2 = (to_lab[2, 0] * long + to_lab[2, 1] * medium + to_lab[2, 2] * short + offset[2]) * scale[2]
    else:
        v0, v1, v2 = float(rgba[y, x, 0]), float(rgba[y, x, 1]), float(rgba[y, x, 2])
    if not alpha:
        return v0, v1, v2, 0.0
    opacity = float(rgba[y, x, 3])
    return v0 * opacity / 255.0, v1 * opacity / 255.0, v2 * opacity / 255.0, opacity


@_compiled(inline="always")
def _spread(errors, column, share, e0, e1, e2, e3):
    """Add share times the error to one pixel's carried error."""
    errors[column, 0] += share * e0
    errors[column, 1] += share * e1
    errors[column, 2] += share * e2
    errors[column, 3] += share * e3


@_compiled(error_model="numpy")
def _search(v0, v1, v2, v3, palette, gaps, order, opaque_entry, only_opaque, guess):
    """The nearest entry to (v0, v1, v2, v3), searched from a guess (see _diffuse); opaque entries only
    when only_opaque."""
    n_entries = palette.shape[0]
    if only_opaque and not opaque_entry[guess]:   # the guess is not allowed: start at an opaque entry
        for entry in range(n_entries):
            if opaque_entry[entry]:
                guess = entry
                break
    d0, d1, d2, d3 = v0 - palette[guess, 0], v1 - palette[guess, 1], v2 - palette[guess, 2], \
        v3 - palette[guess, 3]
    best_squared = d0 * d0 + d1 * d1 + d2 * d2 + d3 * d3
    radius = np.sqrt(best_squared)
    best, best_distance = guess, radius
    for rank in range(1, n_entries):
        entry = order[guess, rank]
        if gaps[guess, entry] > radius + best_distance:
            break
        if only_opaque and not opaque_entry[entry]:
            continue
        d0, d1, d2, d3 = v0 - palette[entry, 0], v1 - palette[entry, 1], v2 - palette[entry, 2], \
            v3 - palette[entry, 3]
        squared = d0 * d0 + d1 * d1 + d2 * d2 + d3 * d3
        if squared < best_squared:
            best, best_squared = entry, squared
            best_distance = np.sqrt(squared)
    return best


@_compiled(error_model="numpy")
def _diffuse(rgba, palette, gaps, order, opaque_entry, strength, oklab, alpha, clear_entry, linear, to_lms,
             to_lab, offset, scale, index):
    """Fill index ((H, W) uint8) with the dithered palette index of every pixel of rgba ((H, W, 4) uint8).

    palette: (k, 4) entries in the working space (the fourth column 0 without alpha); gaps: (k, k) distances
    between entries, and order: each row's entries by that distance, for the search (below); opaque_entry:
    (k,) bool, the entries with alpha 255; clear_entry: the fully transparent entry, or -1.

    Up to _BRUTE_FORCE entries every one is measured. With more, the nearest is searched from a guess,
    the previous pixel's entry g at distance r from the colour:
    by the triangle inequality an entry j is at least gaps[g, j] - r away, so once gaps[g, j] exceeds
    r + the best distance so far, no further entry in g's order can be nearer. The result is the exact
    nearest entry (the first of equals in g's order).
    """
    height, width = rgba.shape[0], rgba.shape[1]
    n_entries = palette.shape[0]
    any_opaque = False
    for entry in range(n_entries):
        any_opaque = any_opaque or opaque_entry[entry]
    p0, p1 = palette[:, 0].copy(), palette[:, 1].copy()   # one array a channel, for the vectorised loop
    p2, p3 = palette[:, 2].copy(), palette[:, 3].copy()
    distances = np.empty(n_entries)
    here = np.zeros((width + 2, 4))      # errors carried to this row, padded by one on each side
    below = np.zeros((width + 2, 4))     # and to the next
    guess = 0
    for y in range(height):
        forward = y % 2 == 0
        ahead = 1 if forward else -1
        for step in range(width):
            x = step if forward else width - 1 - step
            opacity = rgba[y, x, 3]
            if alpha and opacity == 0 and clear_entry >= 0:
                index[y, x] = clear_entry
                continue
            v0, v1, v2, v3 = _target(rgba, y, x, oklab, alpha, linear, to_lms, to_lab, offset, scale)
            v0 = min(max(v0 + here[x + 1, 0], 0.0), 255.0)
            v1 = min(max(v1 + here[x + 1, 1], 0.0), 255.0)
            v2 = min(max(v2 + here[x + 1, 2], 0.0), 255.0)
            v3 = min(max(v3 + here[x + 1, 3], 0.0), 255.0) if alpha else 0.0
            only_opaque = alpha and opacity == 255 and any_opaque
            if n_entries <= _BRUTE_FORCE:   # every entry: a loop the compiler vectorises, then the least
                for entry in range(n_entries):
                    d0, d1, d2, d3 = v0 - p0[entry], v1 - p1[entry], v2 - p2[entry], v3 - p3[entry]
                    distances[entry] = d0 * d0 + d1 * d1 + d2 * d2 + d3 * d3
                best, best_squared = -1, np.inf
                for entry in range(n_entries):
                    if distances[entry] < best_squared and not (only_opaque and not opaque_entry[entry]):
                        best, best_squared = entry, distances[entry]
            else:
                best = _search(v0, v1, v2, v3, palette, gaps, order, opaque_entry, only_opaque, guess)
            index[y, x] = guess = best
            e0 = (v0 - palette[best, 0]) * strength
            e1 = (v1 - palette[best, 1]) * strength
            e2 = (v2 - palette[best, 2]) * strength
            e3 = (v3 - palette[best, 3]) * strength
            _spread(here, x + 1 + ahead, 7 / 16, e0, e1, e2, e3)   # Floyd and Steinberg's shares
            _spread(below, x + 1 - ahead, 3 / 16, e0, e1, e2, e3)
            _spread(below, x + 1, 5 / 16, e0, e1, e2, e3)
            _spread(below, x + 1 + ahead, 1 / 16, e0, e1, e2, e3)
        here, below = below, here
        below[:] = 0.0


@_compiled(error_model="numpy")
def _diffuse_opaque(rgba, palette, gaps, order, strength, oklab, linear, to_lms, to_lab, offset, scale,
                    index):
    """_diffuse for an opaque image (no alpha channel in the points): three channels, no alpha tests."""
    height, width = rgba.shape[0], rgba.shape[1]
    n_entries = palette.shape[0]
    p0, p1, p2 = palette[:, 0].copy(), palette[:, 1].copy(), palette[:, 2].copy()
    no_opaque = np.zeros(n_entries, dtype=np.bool_)
    distances = np.empty(n_entries)
    here = np.zeros((width + 2, 4))
    below = np.zeros((width + 2, 4))
    guess = 0
    for y in range(height):
        forward = y % 2 == 0
        ahead = 1 if forward else -1
        for step in range(width):
            x = step if forward else width - 1 - step
            v0, v1, v2, _ = _target(rgba, y, x, oklab, False, linear, to_lms, to_lab, offset, scale)
            v0 = min(max(v0 + here[x + 1, 0], 0.0), 255.0)
            v1 = min(max(v1 + here[x + 1, 1], 0.0), 255.0)
            v2 = min(max(v2 + here[x + 1, 2], 0.0), 255.0)
            if n_entries <= _BRUTE_FORCE:
                for entry in range(n_entries):
                    d0, d1, d2 = v0 - p0[entry], v1 - p1[entry], v2 - p2[entry]
                    distances[entry] = d0 * d0 + d1 * d1 + d2 * d2
                best, best_squared = 0, distances[0]
                for entry in range(1, n_entries):
                    if distances[entry] < best_squared:
                        best, best_squared = entry, distances[entry]
            else:
                best = _search(v0, v1, v2, 0.0, palette, gaps, order, no_opaque, False, guess)
            index[y, x] = guess = best
            e0 = (v0 - p0[best]) * strength
            e1 = (v1 - p1[best]) * strength
            e2 = (v2 - p2[best]) * strength
            _spread(here, x + 1 + ahead, 7 / 16, e0, e1, e2, 0.0)
            _spread(below, x + 1 - ahead, 3 / 16, e0, e1, e2, 0.0)
            _spread(below, x + 1, 5 / 16, e0, e1, e2, 0.0)
            _spread(below, x + 1 + ahead, 1 / 16, e0, e1, e2, 0.0)
        here, below = below, here
        below[:] = 0.0


def _dither_index(rgba, palette_points, strength, *, oklab, opaque_entry=None, clear_entry=-1):
    """The (H, W) uint8 palette index of every pixel of rgba ((H, W, 4) uint8), dithered with this strength.

    palette_points: the (k, 3) or (k, 4) entries as the fit's points (sRGB, or Oklab in the box; premultiplied
    with alpha as a fourth column when it has 4 columns). opaque_entry: which entries have alpha 255 (opaque
    pixels take only those); clear_entry: the index of the fully transparent entry, or -1.
    """
    palette_points = np.asarray(palette_points, dtype=np.float64)
    alpha = palette_points.shape[1] == 4
    palette = np.zeros((len(palette_points), 4))
    palette[:, :palette_points.shape[1]] = palette_points
    gaps = np.sqrt(np.maximum(((palette[:, None] - palette[None]) ** 2).sum(axis=2), 0))
    ranked = gaps.copy()
    np.fill_diagonal(ranked, -1)                         # each entry first in its own order
    order = np.argsort(ranked, axis=1, kind="stable")
    if opaque_entry is None:
        opaque_entry = np.zeros(len(palette_points), dtype=np.bool_)
    index = np.empty(rgba.shape[:2], dtype=np.uint8)
    if not alpha:
        _diffuse_opaque(np.ascontiguousarray(rgba), palette, gaps, order, float(strength), bool(oklab),
                        _LINEAR_TABLE, _RGB_TO_LMS, _LMS_TO_LAB, _OFFSET, _SCALE, index)
        return index
    _diffuse(np.ascontiguousarray(rgba), palette, gaps, order, np.asarray(opaque_entry, dtype=np.bool_),
             float(strength), bool(oklab), alpha, int(clear_entry), _LINEAR_TABLE, _RGB_TO_LMS, _LMS_TO_LAB,
             _OFFSET, _SCALE, index)
    return index

