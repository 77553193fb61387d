"""Colour compression with K-means: reduce a photo to at most 256 colours and write a small indexed PNG.

The public API (``__all__``):

- `compress_image` : the photo with at most k colours, chosen by K-means, as a palette ('P') image.
- `png_bytes` : that image as the bytes of a PNG file, as the command line writes it.
- `psnr` : the peak signal-to-noise ratio of a result against its original, in dB.
- `load_rgb` : an image read the way `compress_image` reads it, as an (H, W, 3) uint8 array.
- `nearest`, `palette_image` : the two steps the notebook's lesson uses (nearest centre, image from
  a palette and an index).
- `main` : the command line, installed as ``colorquant`` (also ``python -m colorquant``).

Everything else is private (a leading underscore) and may change. Example::

    from colorquant import compress_image, png_bytes
    result = compress_image("photo.jpg", 16, seed=0)            # mode 'P', at most 16 colours
    open("photo_k16.png", "wb").write(png_bytes(result))

The steps, each a function below: read the input; get RGBA pixels and alpha; weighted distinct
colours; fit the palette; index the image; build the result. As a command line::

    colorquant [-k N] [--min-psnr DB] [--skip-if-larger] [--seed S] [--dither]
               [-o OUT | --out-dir DIR] [--force] FILE... | -
"""
import argparse
import functools
import io
import math
import numbers
import os
import signal
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from PIL.PngImagePlugin import PngInfo
from threadpoolctl import ThreadpoolController

__all__ = ["compress_image", "load_rgb", "main", "nearest", "palette_image", "png_bytes", "psnr"]
__version__ = "0.1.0"   # pyproject.toml reads it from here

_MAX_COLORS = 256          # a PNG palette holds at most 256 colours
_MAX_SEED = 2**32 - 1      # the largest seed NumPy and scikit-learn accept
# _fit_palette's constants. Tuned on the sample photos (benchmarks/samples.py: tulips, china, flower) against
# the best of 10 K-means runs (build/reference_psnr.json, benchmarks/compress_benchmark.py), with the
# figures found (differences in dB from the reference; seed 0 unless said). Start-to-start noise is about
# 0.03 dB, so differences below that were not counted.
_HISTOGRAM_BITS = (4, 5, 6)   # grid resolutions (bits per channel), coarse to fine. A fit converged on the
                             # 6-bit grid (15k to 33k cells) was 0.02 to 0.06 dB from the exact colours'
                             # after 10 more iterations on them, against 0.08 from the 5-bit grid
_CELLS_PER_COLOR = 16      # a grid is used when it has this many cells per colour: at k = 64 (seeds 0-3),
                          # 16 against 8 lifted flower from 0.060 to 0.022 dB below the reference on
                          # average (the starts then run on the 5-bit grid, not the 4-bit one)
_TRIALS = 5                # k-means++ starts up to _MANY_COLORS colours. Over seeds 0-2, 10 starts against 5
                          # were 0.00 to 0.03 dB closer to the reference at k = 32 and 64 (flower, k = 64:
                          # 0.009 against 0.042 dB below it), at 1.3 to 1.4 times the time
_RANKING_CELLS = 10_000     # the starts go on together through the grids of at most this many cells (the
                          # coarsest ranked them poorly; fits there are cheap), then only the best. At
                          # k = 32 (seeds 0-2), ranking on the coarsest grid alone left tulips 0.019 dB
                          # below the reference on average, ranking on the next one 0.004
_SMALL_TRIALS = 30         # starts when the colours are too few for a grid (then each start is cheap): on
                          # the soft shadow at k = 16, 10 starts gave 40.80 dB, 30 to 100 gave 40.82-40.83
_MANY_COLORS = 64          # above, one start: at k = 128, 5 starts gained 0.01 to 0.02 dB on average over
                          # seeds 0-3, in 2.5 times the time
_COARSE_ITERATIONS = 100   # a cap: at k = 256, 30 and 100 gave the same palettes (the fits converge sooner)
_FINE_ITERATIONS = 30      # cap on each finer grid: at k = 256, 30 gave the PSNR of 100 (within 0.001 dB)
                          # in half the time
_EXACT_ITERATIONS = 40     # cap on every distinct colour: at k = 256, 5 / 10 / 20 / 40 iterations were
                          # 0.04-0.09 / 0.03-0.07 / 0.02-0.05 / 0.00-0.03 dB below the reference; at
                          # k = 128, flower went from 0.07 to 0.05 dB below it with 40 against 20
_EXACT_LIMIT = 1 << 18     # above this many distinct colours (big photos), the finest grid's fit is kept
_CHUNK = 1 << 22           # values computed per block, so memory stays flat
_FLOAT32_MARGIN = 1.0      # squared distances from float32 products may be this much too large
_BLOCK = 1 << 17           # distances (rows x centres) per block: small enough to stay in the CPU's cache
_DENSE_GRID_BITS = 18      # grids of up to 2**18 cells are counted densely, larger ones sorted
_FULL_COUNT_PIXELS = 1 << 22   # from this many pixels on, one full histogram pass beats sorting the codes
_CODE_BITS = 24            # one colour code: 8 bits each of red, green and blue
_RGB_MASK = (1 << _CODE_BITS) - 1
_EXIF_ORIENTATION = 0x0112    # the EXIF tag that says how to turn the photo upright
_ICC_COLOR_SPACE = slice(16, 20)   # bytes of an ICC profile's header that name its colour space
_ARRAY_MODES = {1: "L", 3: "RGB", 4: "RGBA"}   # Pillow mode of an array by its number of channels



def _check_int(value, name, low, high, allowed):
    """Return value as an int if it is an integer (not a bool) from low to high.

    Raises TypeError for another type and ValueError out of range; the message says what is allowed.
    """
    message = f"{name} must be {allowed}, got {value!r}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(message)
    if not low <= value <= high:
        raise ValueError(message)
    return int(value)


def _check_n_colors(n_colors):
    """Return n_colors if it is an int from 1 to 256, else raise TypeError or ValueError."""
    return _check_int(n_colors, "n_colors", 1, _MAX_COLORS, f"an int from 1 to {_MAX_COLORS}")


def _check_seed(seed):
    """Return seed if it is None or an int from 0 to 2**32 - 1, else raise TypeError or ValueError."""
    if seed is None:
        return None
    return _check_int(seed, "seed", 0, _MAX_SEED, "an int from 0 to 2**32 - 1 or None")


# --- step 1: read the input ---------------------------------------------------------------------------

def _scale_16_to_8(values):
    """16-bit values (0..65535) rounded to 8 bits (0..255), as uint8."""
    return ((np.asarray(values, dtype=np.int64) * 255 + 32767) // 65535).astype(np.uint8)


def _array_image(array):
    """A PIL image of a NumPy array (H, W), (H, W, 3) or (H, W, 4): uint8, uint16, or float in [0, 1]."""
    if array.dtype == np.uint8:
        pixels = array
    elif array.dtype == np.uint16:
        pixels = _scale_16_to_8(array)
    elif np.issubdtype(array.dtype, np.floating):
        low, high = (float(np.min(array)), float(np.max(array))) if array.size else (0.0, 0.0)
        if not (0 <= low and high <= 1):   # also true of NaN, which compares false
            hint = "; they look like 0-255: divide the array by 255" if 0 <= low and 1 < high <= 255 else ""
            values = "NaN" if np.isnan(low) or np.isnan(high) else f"values from {low:g} to {high:g}"
            raise ValueError(f"a float array must hold values in [0, 1] (scikit-image's convention), "
                             f"got {values}{hint}")
        pixels = np.rint(array.astype(np.float64) * 255).astype(np.uint8)
    else:
        raise TypeError(f"an image array must have dtype uint8, uint16 or float, got {array.dtype}")
    channels = 1 if array.ndim == 2 else array.shape[-1] if array.ndim == 3 else 0
    if channels not in _ARRAY_MODES or 0 in array.shape:
        raise ValueError("an image array must have shape (H, W), (H, W, 3) or (H, W, 4), "
                         f"got shape {array.shape}")
    return Image.fromarray(np.ascontiguousarray(pixels), _ARRAY_MODES[channels])


def _open_file(file, name):
    """Open and fully decode an image file (a path or a binary file object); errors name it.

    An animated image gives its first frame, with a UserWarning that says so.
    """
    try:
        with Image.open(file) as opened:   # refuses a decompression bomb from its header, before decoding
            frames = getattr(opened, "n_frames", 1)
            opened.load()                  # the pixels stay when the file closes: no copy needed
    except Image.DecompressionBombError as error:
        raise OSError(f"refused image file {name!r}, not decoded: {error}") from error
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise OSError(f"cannot read image file {name!r}: {error}") from error
    if frames > 1:
        warnings.warn(f"{name!r} is animated: only the first of its {frames} frames was used",
                      UserWarning, stacklevel=4)
    return opened


def _orientation(image, name):
    """The image's EXIF orientation (1: upright as stored); a corrupt EXIF block warns and counts as 1."""
    try:
        return image.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception as error:  # noqa: BLE001 - Pillow raises SyntaxError, struct.error... on a bad block
        warnings.warn(f"the EXIF block of {name} is corrupt ({type(error).__name__}: {error}): "
                      "the image is used as stored", UserWarning, stacklevel=5)
        return 1


def _upright(image, name, in_place=False):
    """The image turned upright by its EXIF orientation: itself when it already is (or its EXIF is corrupt).

    in_place: turn this image itself (one that was just read), rather than a copy (the caller's image).
    """
    if _orientation(image, name) == 1:
        return image
    try:
        if in_place:
            ImageOps.exif_transpose(image, in_place=True)
            return image
        return ImageOps.exif_transpose(image)
    except Exception as error:  # noqa: BLE001 - as in _orientation: any failure of a corrupt block
        warnings.warn(f"the EXIF block of {name} is corrupt ({type(error).__name__}: {error}): "
                      "the image is used as stored", UserWarning, stacklevel=4)
        return image


def _float_image(image):
    """A Pillow image in mode F (32-bit floats) read like a float array: values in [0, 1], else ValueError."""
    return _array_image(np.asarray(image, dtype=np.float32))


def _read_image(source):
    """Read a path, binary file object, PIL image or NumPy array as a PIL image, upright by its EXIF.

    Returns the image and a name for messages. A mode F image is read as floats in [0, 1].
    """
    if isinstance(source, Image.Image):   # the caller's image: turned upright in a copy, if at all
        image, name = _upright(source, "the given image"), "the given image"
    elif isinstance(source, np.ndarray):
        return _array_image(source), "the given array"
    elif isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        image = _upright(_open_file(name, name), repr(name), in_place=True)
    elif hasattr(source, "read"):
        name = getattr(source, "name", None) or f"the given {type(source).__name__}"
        shown = repr(name) if isinstance(name, str) else name
        image = _upright(_open_file(source, name), shown, in_place=True)
    else:
        raise TypeError("source must be a path, a binary file object, a PIL.Image.Image or a NumPy array, "
                        f"got {type(source).__name__}")
    if image.mode == "F":
        image = _float_image(image)
    return image, name


def _rgb_profile(image):
    """The image's ICC profile if it describes RGB colours (not CMYK or grayscale), else None."""
    profile = image.info.get("icc_profile")
    if isinstance(profile, bytes) and profile[_ICC_COLOR_SPACE] == b"RGB ":
        return profile
    return None


def _pixels(image, name):
    """The image's pixels as a uint8 array: (H, W, 4) RGBA when it has transparency, else (H, W, 3) RGB."""
    rgba, has_alpha = _rgba_pixels(image, name)
    return rgba if has_alpha else np.ascontiguousarray(rgba[..., :3])


def load_rgb(source):
    """Read an image the way `compress_image` does, as an (H, W, 3) uint8 RGB array (alpha dropped).

    Parameters
    ----------
    source : str, os.PathLike, binary file object, PIL.Image.Image or numpy.ndarray
        Anything `compress_image` accepts. The photo is turned upright by its EXIF orientation;
        16-bit and float images are scaled to 8 bits.

    Returns
    -------
    numpy.ndarray
        The pixels, of shape (H, W, 3) and dtype uint8.

    Raises
    ------
    TypeError, ValueError, OSError
        As `compress_image` does, for the same sources.

    Examples
    --------
    >>> import numpy as np
    >>> from colorquant import load_rgb
    >>> load_rgb(np.full((2, 3), 0.5)).shape      # a float grayscale array in [0, 1]
    (2, 3, 3)
    >>> int(load_rgb(np.full((2, 3), 0.5))[0, 0, 0])
    128
    """
    image, name = _read_image(source)
    return np.ascontiguousarray(_rgba_pixels(image, name)[0][..., :3])


# --- step 2: get RGBA pixels and alpha ----------------------------------------------------------------

def _rgba_pixels(image, name):
    """Return the pixels as an (H, W, 4) uint8 RGBA array, and whether the image has transparency."""
    if image.mode.startswith("I"):
        # 16-bit grayscale: scale 0..65535 to 0..255 (a plain convert("RGB") clips it to white).
        # Mode "I" (32-bit) holds 16-bit scans too; with no value above 255 it is taken as 8-bit.
        wide = np.clip(np.asarray(image, dtype=np.int64), 0, 65535)
        image = Image.fromarray(_scale_16_to_8(wide) if image.mode != "I" or wide.max() > 255
                                else wide.astype(np.uint8))
    try:
        return np.asarray(image.convert("RGBA")), image.has_transparency_data
    except ValueError as error:
        raise ValueError(f"cannot convert {name} (mode {image.mode}) to RGB: {error}") from error


# --- step 3: weighted distinct colours ----------------------------------------------------------------

def _color_codes(rgba):
    """One integer per pixel, without a copy: red + 256 green + 65536 blue, and alpha in the top byte."""
    # 24-bit packing: the 4 bytes of an RGBA pixel read as one little-endian uint32; masking off the alpha
    # byte (& _RGB_MASK, block by block where used) leaves a colour code that sorts, counts and indexes far
    # faster than rows of 3 values.
    return rgba.view("<u4").reshape(-1)


def _count_colors(codes):
    """Distinct 24-bit colour codes (alpha masked off), sorted, and how many pixels have each."""
    if codes.size >= _FULL_COUNT_PIXELS:   # in blocks: bincount copies its input to 64-bit integers
        counts = np.zeros(1 << _CODE_BITS, dtype=np.int64)
        for start in range(0, codes.size, 2 * _CHUNK):
            counts += np.bincount(codes[start:start + 2 * _CHUNK] & _RGB_MASK, minlength=1 << _CODE_BITS)
        distinct = np.flatnonzero(counts)
        return distinct, counts[distinct]
    return np.unique(codes & _RGB_MASK, return_counts=True)


def _decode_colors(codes, alpha=False):
    """The (N, 3) uint8 RGB colours of colour codes, or (N, 4) RGBA with alpha=True (alpha: the top byte)."""
    codes = np.asarray(codes, dtype=np.uint32)
    return np.stack([(codes >> shift) & 255 for shift in (0, 8, 16, 24)[:4 if alpha else 3]],
                    axis=1).astype(np.uint8)


def _weighted_colors(codes):
    """Distinct 24-bit colour codes, their RGB colours and weights (pixel counts, as floats)."""
    distinct, counts = _count_colors(codes)
    return distinct, _decode_colors(distinct), counts.astype(np.float64)


def _premultiply(rgba):
    """Premultiplied RGBA floats of uint8 RGBA rows: colour times alpha / 255, and alpha."""
    rgba = np.asarray(rgba, dtype=np.float64)
    return np.concatenate([rgba[:, :3] * (rgba[:, 3:] / 255), rgba[:, 3:]], axis=1)


def _unpremultiply(points):
    """uint8 RGBA palette entries of premultiplied RGBA centres (rounded; alpha 0 gives (0, 0, 0, 0))."""
    alpha = np.clip(np.rint(points[:, 3]), 0, 255)
    with np.errstate(divide="ignore", invalid="ignore"):
        rgb = np.where(alpha[:, None] > 0, points[:, :3] * 255 / np.maximum(points[:, 3:], 1e-9), 0)
    return np.column_stack([np.clip(np.rint(rgb), 0, 255), alpha]).astype(np.uint8)


# --- step 4: fit the palette --------------------------------------------------------------------------

def nearest(colors, centers):
    """Index of the nearest centre for each row of colors (squared Euclidean distance), in blocks."""
    return _two_nearest(colors, centers, second=False)[0]


def _two_nearest(points, centers, second=True):
    """For each point: its nearest centre, the distance to it and (second=True) a lower bound on the
    distance to the second nearest."""
    centers = np.asarray(centers, dtype=np.float32)
    # Half-norm distance: |x - c|^2 = |x|^2 - 2 (x.c - |c|^2 / 2), and |x|^2 is the same for every
    # centre, so the nearest centre is the argmin of |c|^2 / 2 - x.c: one matrix product per block.
    half_norms = 0.5 * (centers ** 2).sum(axis=1)
    transposed = np.ascontiguousarray(centers.T)
    step = max(1, _BLOCK // len(centers))
    labels = np.empty(len(points), dtype=np.intp)
    runner_up = np.full(len(points), np.inf) if second else None
    buffer = np.empty((min(step, len(points)), len(centers)), dtype=np.float32)   # reused: no allocations
    for start in range(0, len(points), step):
        block = np.asarray(points[start:start + step], dtype=np.float32)
        scores = buffer[:len(block)]
        np.matmul(block, transposed, out=scores)
        np.subtract(half_norms, scores, out=scores)
        labels[start:start + step] = best = np.argmin(scores, axis=1)
        if second and len(centers) > 1:
            scores[np.arange(len(block)), best] = np.inf
            runner_up[start:start + step] = scores.min(axis=1)
    if not second:
        return labels, None, None
    # The runner-up's squared distance, |x|^2 + 2 score, less a margin for float32's rounding (its
    # error is below 0.1 for values up to 255): a lower bound, as Hamerly's bounds need.
    as_floats = np.asarray(points, dtype=np.float64)
    squared_norms = np.einsum("ij,ij->i", as_floats, as_floats)
    lower = np.sqrt(np.maximum(squared_norms + 2 * runner_up - _FLOAT32_MARGIN, 0))
    return labels, _distance(points, centers[labels]), lower


def _distance(points, centers):
    """Euclidean distance of each point to the centre in the same row (float64)."""
    difference = np.asarray(points, dtype=np.float64) - centers
    return np.sqrt(np.einsum("ij,ij->i", difference, difference))


def _color_histogram(points, weights, bits):
    """Merge points into cells of a grid with 2**bits levels per channel: mean point and weight per cell."""
    cell_id = np.zeros(len(points), dtype=np.int64)
    for channel in range(points.shape[1]):
        cell_id = (cell_id << bits) | (points[:, channel].astype(np.int64) >> (8 - bits))
    if bits * points.shape[1] <= _DENSE_GRID_BITS:   # a small grid: count every cell, occupied or not
        cell_of, cells_total = cell_id, 1 << (bits * points.shape[1])
    else:                                           # a large one: number the occupied cells (a sort)
        occupied, cell_of = np.unique(cell_id, return_inverse=True)
        cells_total = len(occupied)
    cell_weight = np.bincount(cell_of, weights=weights, minlength=cells_total)
    sums = np.stack([np.bincount(cell_of, weights=weights * points[:, c], minlength=cells_total)
                     for c in range(points.shape[1])], axis=1)
    occupied = np.flatnonzero(cell_weight)
    return sums[occupied] / cell_weight[occupied, None], cell_weight[occupied]


def _lloyd(points, weights, centers, max_iter, fixed=0):
    """Weighted K-means: Lloyd's iterations from these centres, with Hamerly's bounds (2010).

    Hamerly's bounds skip the distance computations that cannot change a label: each point keeps an upper
    bound on the distance to its centre and a lower bound on the distance to any other; after the centres
    move, the bounds move by as much, and only points whose bounds cross are measured again. The labels
    (and so the result) are those of plain Lloyd iterations. The first `fixed` centres do not move.
    Runs until no label changes or for max_iter updates; returns the centres (float64) and the labels.
    """
    points = np.asarray(points, dtype=np.float64)
    centers = np.array(centers, dtype=np.float64)
    k = len(centers)
    weighted = points * weights[:, None]
    labels, upper, lower = _two_nearest(points, centers)
    mass, sums = _cluster_sums(labels, weights, weighted, k)
    for _ in range(max_iter):
        moved = np.where(mass[:, None] > 0, sums / np.maximum(mass, 1e-300)[:, None], centers)
        moved[:fixed] = centers[:fixed]
        empty = np.flatnonzero(mass[fixed:] == 0) + fixed
        if len(empty):   # an empty centre restarts at the points worst served (as scikit-learn does)
            worst = np.argsort(weights * upper ** 2)[::-1][:len(empty)]
            moved[empty[:len(worst)]] = points[worst]
        shift = np.sqrt(((moved - centers) ** 2).sum(axis=1))
        centers = moved
        if not shift.any():
            break
        if len(empty):   # the bounds are void after a jump: measure every point again
            labels, upper, lower = _two_nearest(points, centers)
            mass, sums = _cluster_sums(labels, weights, weighted, k)
            continue
        upper += shift[labels]
        lower -= shift.max()
        # A point is surely nearest its centre when within half the distance from that centre to the next.
        bound = np.maximum(_half_gaps(centers)[labels], lower)
        check = np.flatnonzero(upper > bound)
        upper[check] = _distance(points[check], centers[labels[check]])
        check = check[upper[check] > bound[check]]
        before = labels[check]
        labels[check], upper[check], lower[check] = _two_nearest(points[check], centers)
        changed = before != labels[check]
        if not changed.any():   # the same labels: the centres are their means
            break
        check, before = check[changed], before[changed]   # move these points' weight between the sums
        lost, lost_sums = _cluster_sums(before, weights[check], weighted[check], k)
        won, won_sums = _cluster_sums(labels[check], weights[check], weighted[check], k)
        mass += won - lost
        sums += won_sums - lost_sums
    return centers, labels


def _cluster_sums(labels, weights, weighted, k):
    """Each cluster's total weight and the sum of its weighted points."""
    mass = np.bincount(labels, weights=weights, minlength=k)
    sums = np.stack([np.bincount(labels, weights=weighted[:, c], minlength=k)
                     for c in range(weighted.shape[1])], axis=1)
    return mass, sums


def _half_gaps(centers):
    """For each centre, half the distance to its nearest other centre (infinite for a single centre)."""
    norms = (centers ** 2).sum(axis=1)
    squared = norms[:, None] + norms[None] - 2 * centers @ centers.T
    np.fill_diagonal(squared, np.inf)
    return 0.5 * np.sqrt(np.maximum(squared.min(axis=1), 0))


def _fit_palette(points, weights, n_colors, seed, fixed=None):
    """K-means centres of weighted colours: coarse-to-fine weighted K-means from k-means++ starts.

    The technique: weighted K-means (Lloyd's algorithm, with Hamerly's bounds, in _lloyd), run coarse to
    fine. The colours are merged into the cells of grid histograms (_HISTOGRAM_BITS; each cell: the mean
    of its colours, weighted by their pixel counts), so that the early iterations, where the centres
    move far, are cheap. _TRIALS k-means++ starts (_kmeans_plusplus) run on the coarsest grid and on the
    next ones up to _RANKING_CELLS cells, where the best is kept; it goes on to each finer grid and last to
    every distinct colour (unless there are more than _EXACT_LIMIT), each level starting from the previous
    level's centres.

    points: (N, 3) distinct RGB colours, or (N, 4) premultiplied RGBA; weights: their pixel counts.
    fixed: centres that stay where they are (the transparent entry), counted in n_colors.
    Returns the (n_colors, d) float64 centres, the fixed ones first.
    """
    fixed = np.zeros((0, points.shape[1])) if fixed is None else np.asarray(fixed, dtype=np.float64)
    free = n_colors - len(fixed)
    levels = [_color_histogram(points, weights, bits) for bits in _HISTOGRAM_BITS]
    levels = [level for level in levels if len(level[0]) >= _CELLS_PER_COLOR * n_colors]
    exact = len(points) <= _EXACT_LIMIT
    if exact or not levels:
        levels.append((np.asarray(points, dtype=np.float64), weights))
    rng = np.random.default_rng(seed)
    trials = 1 if n_colors > _MANY_COLORS else _TRIALS if len(levels) > 1 else _SMALL_TRIALS
    starts = [np.vstack([fixed, _kmeans_plusplus(*levels[0], free, fixed, rng)]) for _ in range(trials)]
    for depth, (level, level_weights) in enumerate(levels):   # coarse to fine
        iterations = (_COARSE_ITERATIONS if depth == 0
                      else _EXACT_ITERATIONS if exact and level is levels[-1][0] else _FINE_ITERATIONS)
        fits = [_lloyd(level, level_weights, start, iterations, len(fixed)) for start in starts]
        if depth + 1 < len(levels) and len(levels[depth + 1][0]) <= _RANKING_CELLS:   # all go on together
            starts = [centers for centers, _ in fits]
        else:                                                                   # the best goes on
            starts = [min(fits, key=lambda fit: _weighted_error(level, level_weights, *fit))[0]]
    return starts[0]


def _kmeans_plusplus(points, weights, n_centers, fixed, rng):
    """Greedy k-means++ starting centres of weighted points (Arthur and Vassilvitskii 2007, as scikit-learn
    runs it): each centre is the best of 2 + ln(k) candidates drawn with probability proportional to
    weight x squared distance to the nearest centre so far (fixed centres count as chosen)."""
    points = np.asarray(points, dtype=np.float64)
    norms = np.einsum("ij,ij->i", points, points)

    def squared_distances(centers):   # (len(centers), N), by |x|^2 + |c|^2 - 2 x.c
        center_norms = np.einsum("ij,ij->i", centers, centers)[:, None]
        return np.maximum(norms + center_norms - 2 * centers @ points.T, 0)

    trials = 2 + int(np.log(n_centers + len(fixed)))
    if len(fixed):
        nearest_squared = squared_distances(fixed).min(axis=0)
    else:
        first = rng.choice(len(points), p=weights / weights.sum())
        nearest_squared = squared_distances(points[first:first + 1])[0]
    chosen = [] if len(fixed) else [first]
    while len(chosen) < n_centers:
        cumulative = np.cumsum(weights * nearest_squared)
        candidates = np.minimum(np.searchsorted(cumulative, rng.uniform(size=trials) * cumulative[-1]),
                                len(points) - 1)
        squared = np.minimum(nearest_squared, squared_distances(points[candidates]))
        best = np.argmin(squared @ weights)
        chosen.append(candidates[best])
        nearest_squared = squared[best]
    return points[chosen]


def _weighted_error(points, weights, centers, labels):
    """The K-means objective: the weighted sum of squared distances of points to their centres."""
    difference = points - centers[labels]
    return float(weights @ np.einsum("ij,ij->i", difference, difference))


# --- step 5: index the image --------------------------------------------------------------------------

def _index_image(codes, distinct, color_to_index, shape):
    """The (H, W) uint8 palette index of every pixel, from its colour code."""
    # Lookup table: one byte for each of the 2**24 possible colour codes (16 MiB), so mapping every pixel
    # to its palette index is a single gather instead of a search per pixel.
    lookup = np.zeros(1 << _CODE_BITS, dtype=np.uint8)
    lookup[distinct] = color_to_index
    index = np.empty(codes.size, dtype=np.uint8)
    for start in range(0, codes.size, _CHUNK):      # in blocks: indexing copies the codes to 64 bits
        np.take(lookup, codes[start:start + _CHUNK] & _RGB_MASK, out=index[start:start + _CHUNK])
    return index.reshape(shape)


def _dither_index(rgba, palette):
    """The (H, W) palette index of every pixel, mapped with Floyd-Steinberg dithering (Pillow's)."""
    palette_holder = Image.new("P", (1, 1))
    palette_holder.putpalette(np.asarray(palette, dtype=np.uint8)[:, :3].ravel().tolist())
    rgb = Image.fromarray(np.ascontiguousarray(rgba[..., :3]))
    return np.asarray(rgb.quantize(palette=palette_holder, dither=Image.Dither.FLOYDSTEINBERG))


def _dither_premultiplied(rgba, palette):
    """The (H, W) palette index of every pixel, with Floyd-Steinberg dithering in premultiplied RGBA.

    Pillow dithers RGB only, so this one runs in NumPy, a wavefront at a time: pixel (y, x) needs the
    errors of (y, x - 1) and of the row above up to x + 1, so all pixels with the same x + 2 y are
    independent. Fully transparent pixels stay on the transparent entry and pass no error on.
    """
    height, width = rgba.shape[:2]
    shown = _premultiply(palette)
    pixels = _premultiply(rgba.reshape(-1, 4)).reshape(height, width, 4)
    clear = rgba[..., 3] == 0
    transparent = np.flatnonzero(palette[:, 3] == 0)
    errors = np.zeros((height + 1, width + 2, 4))   # padded by a row below and a column on each side
    index = np.empty((height, width), dtype=np.uint8)
    for wave in range(width + 2 * height - 2):
        rows = np.arange(max(0, (wave - width + 2) // 2), min(height - 1, wave // 2) + 1)
        columns = wave - 2 * rows
        value = np.clip(pixels[rows, columns] + errors[rows, columns + 1], 0, 255)
        chosen = nearest(value, shown)
        error = value - shown[chosen]
        if len(transparent):
            invisible = clear[rows, columns]
            chosen[invisible], error[invisible] = transparent[0], 0
        index[rows, columns] = chosen
        for row_step, column_step, share in ((0, 1, 7 / 16), (1, -1, 3 / 16), (1, 0, 5 / 16), (1, 1, 1 / 16)):
            errors[rows + row_step, columns + 1 + column_step] += share * error   # each a distinct pixel
    return index


# --- step 6: build the result -------------------------------------------------------------------------

def palette_image(palette, index, alpha=None):
    """A 'P' image from an (n, 3) RGB or (n, 4) RGBA palette and an index array.

    An RGBA palette's alpha is written as the PNG's tRNS chunk when the image is saved as a PNG.
    With alpha (an (H, W) array), the result is instead an 'RGBA' image with this alpha channel.
    """
    palette = np.asarray(palette, dtype=np.uint8)
    index = np.asarray(index)
    if alpha is not None:
        return Image.fromarray(np.dstack([palette[index][..., :3], alpha]))
    height, width = index.shape
    result = Image.frombytes("P", (width, height), index.astype(np.uint8).tobytes())
    if palette.shape[1] == 4:
        result.putpalette(palette.tobytes(), rawmode="RGBA")
    else:
        result.putpalette(palette.ravel().tolist())
    return result


@functools.cache
def _threadpools():
    """The BLAS and OpenMP thread pools, found once (each search takes about 15 ms)."""
    return ThreadpoolController()


def _quantize_opaque(rgba, n_colors, seed, dither):
    """Palette ((n, 3) uint8) and (H, W) index of an opaque image, fitted to its RGB colours."""
    codes = _color_codes(rgba)
    distinct, colors, weights = _weighted_colors(codes)
    if len(colors) <= n_colors:            # few colours already: keep them exactly
        palette, color_to_index = colors, np.arange(len(colors))
        dither = False
    else:
        with _threadpools().limit(limits=1):   # small products: extra threads only wait on each other
            centers = _fit_palette(colors, weights, n_colors, seed)
        palette = np.clip(np.rint(centers), 0, 255).astype(np.uint8)
        color_to_index = nearest(colors, palette)
    if dither:
        return palette, _dither_index(rgba, palette)
    return palette, _index_image(codes, distinct, color_to_index, rgba.shape[:2])


def _quantize_transparent(rgba, n_colors, seed, dither):
    """Palette ((n, 4) uint8 RGBA) and (H, W) index of an image with transparency, as pngquant does it.

    Every invisible pixel becomes transparent black, so their colours do not count. With on/off alpha,
    one entry is fully transparent and the others are fitted to the visible colours; with graded alpha,
    K-means runs in premultiplied RGBA (colour times alpha / 255, and alpha), with a fully transparent
    entry held fixed when some pixels are invisible. The transparent entry counts towards n_colors.
    """
    codes = np.where(rgba[..., 3].reshape(-1) > 0, _color_codes(rgba), 0)   # code 0: transparent black
    distinct, inverse, counts = np.unique(codes, return_inverse=True, return_counts=True)
    colors, weights = _decode_colors(distinct, alpha=True), counts.astype(np.float64)
    clear = colors[0, 3] == 0             # some pixels are invisible: code 0 sorts first
    if len(colors) <= n_colors:           # few colours already: keep them exactly
        palette, color_to_index = colors, np.arange(len(colors))
    elif clear and n_colors > 1 and colors[1:, 3].min() == 255:   # on/off alpha
        with _threadpools().limit(limits=1):
            centers = _fit_palette(colors[1:, :3], weights[1:], n_colors - 1, seed)
        opaque = np.clip(np.rint(centers), 0, 255).astype(np.uint8)
        palette = np.vstack([np.zeros((1, 4), np.uint8),
                             np.column_stack([opaque, np.full(len(opaque), 255)])])
        color_to_index = np.concatenate([[0], 1 + nearest(colors[1:, :3], opaque)])
    else:                                 # graded alpha
        points = _premultiply(colors)
        fixed = np.zeros((1, 4)) if clear and n_colors > 1 else None
        with _threadpools().limit(limits=1):
            centers = _fit_palette(points, weights, n_colors, seed, fixed)
        palette = _unpremultiply(centers)
        color_to_index = nearest(points, _premultiply(palette))   # as the palette's entries show
    index = color_to_index.astype(np.uint8)[inverse].reshape(rgba.shape[:2])
    if dither and len(colors) > n_colors:
        index = _dither_premultiplied(rgba, palette)
    return palette, index


def compress_image(source, n_colors=16, *, seed=0, dither=False):
    """Return a copy of the photo with at most n_colors colours, chosen by K-means, as a palette image.

    The colours are the centres of a seeded K-means fit on the photo's distinct colours, each weighted
    by its number of pixels (fully transparent pixels do not count), rounded to 8 bits; each pixel gets
    its nearest colour, or a Floyd-Steinberg dithered mix of them. A photo with at most n_colors
    distinct colours is kept exactly.

    Transparency is kept as pngquant keeps it: an opaque RGBA image gives a plain palette; with on/off
    alpha, one palette entry is fully transparent; with graded alpha, the palette's entries carry alpha
    (saved as a PNG's tRNS chunk). A transparent entry counts towards n_colors. The palette is fitted in
    premultiplied RGBA, so fully transparent pixels' colours do not count.

    Parameters
    ----------
    source : str, os.PathLike, binary file object, PIL.Image.Image or numpy.ndarray
        The photo: a path or an open binary file (or ``io.BytesIO``) of any format Pillow reads, a
        Pillow image in any usual mode, or an array of shape (H, W), (H, W, 3) or (H, W, 4) holding
        uint8 (as is), uint16 (scaled to 8 bits) or floats in [0, 1] (scikit-image's convention;
        a Pillow image in mode F is read the same way). A file's EXIF orientation is applied (a
        corrupt EXIF block is ignored with a UserWarning); an animated file gives its first frame,
        with a UserWarning. The source is never changed.
    n_colors : int, default 16
        The most colours the result may have, from 1 to 256.
    seed : int or None, default 0
        The random seed of the K-means starts, from 0 to 2**32 - 1: the same seed gives the same
        image. None gives a random start.
    dither : bool, default False
        Map the photo onto the palette with Floyd-Steinberg dithering instead of the nearest colour.

    Returns
    -------
    PIL.Image.Image
        A mode 'P' image of the source's size (after the EXIF orientation) with at most n_colors
        palette entries. Transparency is kept as palette alpha (the PNG's tRNS chunk): the palette's
        entries are RGBA. An RGB ICC colour profile is kept in ``result.info["icc_profile"]``, so a
        saved PNG shows the same colours; `png_bytes` gives the PNG file.

    Raises
    ------
    TypeError
        When n_colors or seed is not an int (a bool is not one), when source is of another type,
        or when an array's dtype is not uint8, uint16 or float.
    ValueError
        When n_colors or seed is out of range, when an array has another shape, when a float array
        or a mode F image holds values outside [0, 1] (or NaN), or when the image's mode cannot be
        converted to RGB.
    OSError
        When a file is missing, empty, truncated or not an image (the message names it), or when it
        is over Pillow's decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``), which is refused
        before it is decoded.

    See Also
    --------
    png_bytes : the result as the bytes of a small PNG file.
    psnr : the quality of the result against the original.

    Examples
    --------
    >>> import numpy as np
    >>> from colorquant import compress_image
    >>> y, x = np.mgrid[0:32, 0:48]
    >>> photo = np.dstack([x * 5, y * 8, x + y]).astype(np.uint8)    # a small gradient, 1536 colours
    >>> result = compress_image(photo, 8, seed=0)
    >>> result.mode, result.size
    ('P', (48, 32))
    >>> len(result.getcolors())       # distinct colours used
    8
    >>> compress_image(photo, 0)
    Traceback (most recent call last):
    ...
    ValueError: n_colors must be an int from 1 to 256, got 0
    >>> compress_image(photo / 1.0, 8)     # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: a float array must hold values in [0, 1] ...: divide the array by 255
    """
    n_colors = _check_n_colors(n_colors)
    seed = _check_seed(seed)
    image, name = _read_image(source)
    profile = _rgb_profile(image)
    rgba, has_alpha = _rgba_pixels(image, name)
    del image
    if has_alpha and rgba[..., 3].min() < 255:
        palette, index = _quantize_transparent(rgba, n_colors, seed, dither)
    else:
        palette, index = _quantize_opaque(rgba, n_colors, seed, dither)
    palette, index = _order_palette(palette, index)
    result = palette_image(palette, index)
    if profile is not None:
        result.info["icc_profile"] = profile
    return result


# --- PNG output ---------------------------------------------------------------------------------------
# A palette PNG is written by oxipng (pyoxipng) from the palette and the indices, so no step re-reads or
# re-quantises the pixels; Pillow writes everything else, and palette images when oxipng is missing.

_PATH_COLORS = 16          # up to 16 entries (4 bits or fewer per pixel): a greedy path; above: spectral
_ADJACENT_PAIRS = 1 << 21  # adjacent pixel pairs counted at most, in whole rows spread over the image
# oxipng's effort, tuned with benchmarks/png_size.py: level 2 (the row filters tried quickly, the best
# compressed by libdeflate at level 11) with filters None and Entropy: on those cases as small as level 2's
# default four filters (None, Sub, Entropy, Bigrams), in 15 % less time; level 4 saves up to 2 % more in
# 4 to 10 times the time. Above _FULL_EFFORT_PIXELS, level 1 and filter None only: on a 24-megapixel
# photo at k = 16, 3.4 s of CPU time for a file 7 % smaller than pngquant's, where level 2 with filters
# None and Entropy takes 7.4 s (11 % smaller still), too long beside pngquant's 12 to 18 s for all of it.
_FULL_EFFORT_PIXELS = 1 << 22
_COUNT_BLOCK = 1 << 20     # pixels counted per block: small temporary arrays on big images
# Swap rounds after the spectral order, at most: on the cases of benchmarks/png_size.py they stop after
# 9 to 18 rounds (5 to 25 ms of CPU time) and make the files 1 to 3 % smaller.
_SWAP_ROUNDS = 60
_TEXT_KEY_BYTES = 79       # a PNG text keyword is 1 to 79 Latin-1 bytes
_PILLOW_PNG_MODES = {"1", "L", "LA", "I;16", "I;16B", "P", "RGB", "RGBA"}   # what Pillow writes as PNG


def _index_counts(index, n):
    """How many pixels use each of the n entries, counted in blocks of rows."""
    flat = index.reshape(-1)
    counts = np.zeros(n, dtype=np.int64)
    for start in range(0, len(flat), _COUNT_BLOCK):
        counts += np.bincount(flat[start:start + _COUNT_BLOCK], minlength=n)[:n]
    return counts


def _adjacency(index, n):
    """Symmetric (n, n) counts of how often two entries are horizontal or vertical pixel neighbours.

    On a big image, every step-th row (and the row below it) is counted: at most _ADJACENT_PAIRS pairs.
    """
    height, width = index.shape
    step = max(1, (2 * height * width) // _ADJACENT_PAIRS)
    rows = index[::step].astype(np.intp)
    below = index[1::step].astype(np.intp)
    top = rows[: len(below)]
    counts = np.bincount((rows[:, 1:] * n + rows[:, :-1]).ravel(), minlength=n * n)
    counts += np.bincount((below * n + top).ravel(), minlength=n * n)
    counts = counts.reshape(n, n)
    counts = counts + counts.T
    np.fill_diagonal(counts, 0)
    return counts


def _path_order(members, adjacency, pixel_counts, luma):
    """The entries in members as a path grown at both ends from the commonest entry, each step taking the
    entry that neighbours an end most often: frequent neighbours get consecutive indices. The path runs
    from its darker end, so that the same colours in the same arrangement get the same order."""
    weights = adjacency[np.ix_(members, members)]
    free = np.ones(len(members), dtype=bool)
    first = int(np.argmax(pixel_counts[members]))
    free[first] = False
    path = [first]
    for _ in range(len(members) - 1):
        tail = np.where(free, weights[path[-1]], -1)
        head = np.where(free, weights[path[0]], -1)
        if tail.max() >= head.max():
            entry = int(np.argmax(tail))
            path.append(entry)
        else:
            entry = int(np.argmax(head))
            path.insert(0, entry)
        free[entry] = False
    path = members[path]
    return path[::-1] if luma[path[0]] > luma[path[-1]] else path


def _spectral_key(palette, adjacency):
    """One number per entry (the Fiedler vector of the adjacency graph) whose order puts entries that are
    often neighbours close together: an approximate minimum linear arrangement."""
    colors = palette.astype(np.float64)
    distance2 = ((colors[:, None] - colors[None]) ** 2).sum(axis=-1)
    # Similar colours join weakly (sigma 20 levels, half the mean adjacency): entries that never touch still
    # get an order, and the vector is unique. Compared with no such term on the sample cases: within 0.5 %.
    weights = adjacency + 0.5 * adjacency.mean() * np.exp(-distance2 / (2 * 20.0**2))
    np.fill_diagonal(weights, 0)
    laplacian = np.diag(weights.sum(axis=1)) - weights
    from scipy.linalg import eigh  # loaded with scikit-learn already; here, as only this step needs it
    with _threadpools().limit(limits=1):   # a 256 x 256 matrix: threads only add overhead
        key = eigh(laplacian, subset_by_index=[1, 1], driver="evr")[1][:, 0]   # 3x faster than all vectors
    luma = colors[:, :3] @ (0.299, 0.587, 0.114)
    return key if key @ (luma - luma.mean()) >= 0 else -key   # a fixed sign: darker entries first


def _swap_neighbours(order, adjacency, group):
    """The order improved by swapping neighbouring entries (of the same group) while that lowers the sum,
    over pairs of entries, of how often they are pixel neighbours times the square root of their distance
    in the order. Rounds alternate between pairs starting at even and odd positions; each round swaps
    every pair that gains, judged on the positions at its start."""
    n = len(order)
    order = order.copy()
    root = np.sqrt(np.arange(n + 1))
    spots = np.arange(n)
    # change[a, p]: how the root distance to an entry at position p changes when one moves from a to a + 1
    change = root[np.abs(spots[:, None] + 1 - spots)] - root[np.abs(spots[:, None] - spots)]
    quiet = 0
    for round_ in range(_SWAP_ROUNDS):
        first = np.arange(round_ % 2, n - 1, 2)
        left, right = order[first], order[first + 1]
        same = group[left] == group[right]
        first, left, right = first[same], left[same], right[same]
        by_position = adjacency[left][:, order] - adjacency[right][:, order]
        gain = (by_position * change[first]).sum(axis=1) + 2 * adjacency[left, right]
        swap = gain < 0
        if swap.any():
            order[first[swap]], order[first[swap] + 1] = right[swap], left[swap]
            quiet = 0
        else:
            quiet += 1
            if quiet == 2:   # neither even nor odd pairs gain
                break
    return order


def _order_palette(palette, index):
    """The palette and index reordered so that the PNG compresses well; the pixels' colours stay the same.

    palette: an (n, 3) or (n, 4) uint8 array (RGB or RGBA entries); index: an (H, W) uint8 array.
    Returns the reordered (palette, index), of the same shapes and dtypes.

    Entries with alpha below 255 come first (the PNG's tRNS chunk then stops at the last of them), unused
    entries last. In between, entries whose pixels are often neighbours get neighbouring indices: PNG's
    row filters code a pixel as its difference from its neighbours', and at 4 bits or fewer per pixel
    two to eight pixels share one byte. Up to 16 entries are ordered as a greedy path over the counts
    of neighbouring pixels; more, by the spectral (Fiedler) order of that graph, then improved by swapping
    neighbouring entries.
    """
    palette, index = np.asarray(palette), np.asarray(index)
    n = len(palette)
    if n < 2:
        return palette, index
    pixel_counts = _index_counts(index, n)
    adjacency = _adjacency(index, n)
    opaque = palette[:, 3] == 255 if palette.shape[1] == 4 else np.ones(n, dtype=bool)
    used = pixel_counts > 0
    if n <= _PATH_COLORS:
        luma = palette[:, :3].astype(np.int64) @ (299, 587, 114)
        groups = [np.flatnonzero(used & ~opaque), np.flatnonzero(used & opaque), np.flatnonzero(~used)]
        order = np.concatenate([_path_order(group, adjacency, pixel_counts, luma) if len(group) else group
                                for group in groups])
    else:
        order = np.lexsort((_spectral_key(palette, adjacency), opaque, ~used))
        group = np.where(used, np.where(opaque, 1, 0), 2)
        order = _swap_neighbours(order, adjacency.astype(np.float64), group)
    position = np.empty(n, dtype=index.dtype)
    position[order] = np.arange(n)
    return palette[order], position[index]


def _indexed(image):
    """A P image's (palette, index): the palette as (n, 4) RGBA uint8 covering every index; else None."""
    if image.mode != "P" or not image.getpalette():
        return None
    palette = np.array(image.getpalette(rawmode="RGBA"), dtype=np.uint8).reshape(-1, 4)
    transparency = image.info.get("transparency")   # an RGB palette's alpha, as a PNG file gives it
    if isinstance(transparency, bytes):
        palette[: len(transparency), 3] = np.frombuffer(transparency, np.uint8)[: len(palette)]
    elif isinstance(transparency, int) and transparency < len(palette):
        palette[transparency, 3] = 0
    index = np.asarray(image)
    top = int(index.max(initial=0)) + 1
    if top > len(palette):   # indices past the palette's end show opaque black, as in Pillow
        palette = np.vstack([palette, np.tile(np.array([0, 0, 0, 255], np.uint8), (top - len(palette), 1))])
    return palette, index


def _drop_unused(palette, index):
    """The palette without the entries no pixel uses, and the index renumbered; the order kept."""
    used = _index_counts(index, len(palette)) > 0
    if used.all():
        return palette, index
    position = np.cumsum(used, dtype=np.intp) - 1
    return palette[used], position.astype(np.uint8)[index]


def _text_chunks(text):
    """PNG chunks (name, data) for a dict of texts: tEXt when Latin-1, else iTXt (UTF-8)."""
    chunks = []
    for key, value in (text or {}).items():
        try:
            keyword = str(key).encode("latin-1")
        except UnicodeEncodeError:
            keyword = b""
        if not 1 <= len(keyword) <= _TEXT_KEY_BYTES:
            raise ValueError(f"a PNG text key must be 1 to {_TEXT_KEY_BYTES} Latin-1 characters, got {key!r}")
        if isinstance(value, bytes):   # as Pillow's PngInfo.add_text takes it: stored as it is
            chunks.append((b"tEXt", keyword + b"\0" + value))
            continue
        value = str(value)
        try:
            chunks.append((b"tEXt", keyword + b"\0" + value.encode("latin-1")))
        except UnicodeEncodeError:
            chunks.append((b"iTXt", keyword + b"\0\0\0\0\0" + value.encode("utf-8")))
    return chunks


def _oxipng():
    """The oxipng module (package pyoxipng), or None where it is not installed."""
    try:
        import oxipng
    except ImportError:
        return None
    return oxipng


def _pillow_png(image, text):
    """The PNG file Pillow writes (optimize=True), for any mode: others (PA, CMYK, ...) as RGB(A)."""
    if image.mode not in _PILLOW_PNG_MODES:
        image = image.convert("RGBA" if image.has_transparency_data else "RGB")
    info = None
    if text:
        info = PngInfo()
        for key, value in text.items():
            info.add_text(key, value)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True, pnginfo=info, icc_profile=image.info.get("icc_profile"))
    return buffer.getvalue()


def png_bytes(image, *, text=None):
    """The PNG file of a PIL image, as bytes: what the command line writes.

    A palette image (mode P, with or without alpha in its palette) becomes a palette PNG with exactly its
    pixels' colours and alphas: the entries no pixel uses are dropped, the others keep their order
    (compress_image orders them for compression), and oxipng (package pyoxipng) picks the bit depth
    (1, 2, 4 or 8), the row filters and the compression. Other modes are written by Pillow as they are
    (modes PNG cannot hold, such as CMYK, as RGB or RGBA), and so are palette images where pyoxipng is
    not installed.

    Parameters
    ----------
    image : PIL.Image.Image
        The image to write.
    text : dict of str to str, optional
        PNG text chunks to store in the file, such as a credit: keys of 1 to 79 Latin-1 characters;
        values in Latin-1 go to tEXt chunks, others to iTXt (UTF-8).

    Returns
    -------
    bytes
        The PNG file. An RGB ICC profile in ``image.info["icc_profile"]`` is kept.

    Examples
    --------
    >>> import numpy as np
    >>> from PIL import Image
    >>> photo = Image.fromarray(np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1)), "L").convert("RGB")
    >>> result = compress_image(photo, 4, seed=0)
    >>> data = png_bytes(result, text={"Title": "a grey ramp, 4 colours"})
    >>> written = Image.open(io.BytesIO(data))
    >>> written.mode, written.info["Title"], len(data) < 200
    ('P', 'a grey ramp, 4 colours', True)
    """
    oxipng = _oxipng()
    indexed = _indexed(image) if oxipng is not None else None
    if indexed is None:
        return _pillow_png(image, text)
    chunks = _text_chunks(text)
    palette, index = _drop_unused(*indexed)
    height, width = index.shape
    raw = oxipng.RawImage(np.ascontiguousarray(index, dtype=np.uint8).tobytes(), width, height,
                          color_type=oxipng.ColorType.indexed(palette.tolist()))
    for name, data in chunks:
        raw.add_png_chunk(name, data)
    profile = _rgb_profile(image)
    if profile is not None:
        raw.add_icc_profile(profile)
    options = {"level": 2, "filter": [oxipng.RowFilter.NoOp, oxipng.RowFilter.Entropy]}
    if width * height > _FULL_EFFORT_PIXELS:
        options = {"level": 1, "filter": [oxipng.RowFilter.NoOp]}
    # palette_reduction would re-sort the palette (often to a larger file) and write other colours' order
    try:
        return raw.create_optimized_png(palette_reduction=False, **options)
    except oxipng.PngError:   # not seen on any input; Pillow writes the same pixels, only less small
        return _pillow_png(image, text)


# --- measuring the result -----------------------------------------------------------------------------

def _scaled_array(image, name):
    """An image (array or PIL image) as an array, and the factor that scales its values to 0..255."""
    if isinstance(image, Image.Image):
        image = image.convert("RGBA" if image.has_transparency_data else "RGB")
    array = np.asarray(image)
    if array.dtype == np.uint8:
        return array, 1.0
    if array.dtype == np.uint16:
        return array, 1 / 257
    if np.issubdtype(array.dtype, np.floating):
        low, high = (float(np.min(array)), float(np.max(array))) if array.size else (0.0, 0.0)
        if not (0 <= low and high <= 1):   # also true of NaN, which compares false
            raise ValueError(f"psnr: a float image must hold values in [0, 1], got {name} with values "
                             f"from {low:g} to {high:g}")
        return array, 255.0
    raise TypeError(f"psnr: an image must be uint8, uint16 or float in [0, 1], got {name} "
                    f"of dtype {array.dtype}")


def _premultiplied_block(array, factor, start, stop, alpha):
    """Rows start:stop of an image as float64 in 0..255; with alpha, premultiplied RGB and alpha."""
    block = array[start:stop].astype(np.float64) * factor
    if not alpha:
        return block
    if block.shape[-1] == 3:   # an RGB image compared with an RGBA one counts as opaque
        return np.concatenate([block, np.full(block.shape[:-1] + (1,), 255.0)], axis=-1)
    return np.concatenate([block[..., :3] * (block[..., 3:] / 255), block[..., 3:]], axis=-1)


def psnr(original, compressed):
    """Peak signal-to-noise ratio in dB of two images (NumPy arrays or PIL images) of the same size.

    Each image is scaled to 0-255 by its dtype: uint8 as is, uint16 / 257, floats in [0, 1] times 255.
    PIL images are read as RGB, or RGBA when they have transparency. For images with an alpha channel
    (4 channels; a 3-channel image compared with one counts as opaque), the error is that of premultiplied
    colours and alpha: MSE = the sum over pixels of the squared errors of R, G and B, each times
    alpha / 255, and of alpha, divided by 3 x the number of pixels; so an opaque image scores as its RGB.
    PSNR = 10 log10(255^2 / MSE), computed in floats; infinite for identical images.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((2, 2, 3), dtype=np.uint8)
    >>> round(psnr(a, a + 1), 2)          # every value off by 1: MSE = 1
    48.13
    """
    (first, first_factor), (second, second_factor) = (_scaled_array(original, "original"),
                                                      _scaled_array(compressed, "compressed"))
    shapes = first.shape, second.shape
    alpha = first.ndim == second.ndim == 3 and 4 in (first.shape[-1], second.shape[-1])
    if alpha and {first.shape[-1], second.shape[-1]} <= {3, 4}:
        shapes = first.shape[:2], second.shape[:2]
    if shapes[0] != shapes[1] or first.ndim < 2:
        raise ValueError(f"psnr needs two image arrays of the same shape, got {first.shape} "
                         f"and {second.shape}")
    rows = max(1, _CHUNK // max(1, first[0].size))
    total = 0.0
    for start in range(0, len(first), rows):
        diff = (_premultiplied_block(first, first_factor, start, start + rows, alpha)
                - _premultiplied_block(second, second_factor, start, start + rows, alpha)).ravel()
        total += float(diff @ diff)
    if total == 0:
        return float("inf")
    values = first.shape[0] * first.shape[1] * 3 if alpha else first.size   # with alpha: 3 x the pixels
    return float(10 * np.log10(255 ** 2 * values / total))


# --- the command line ---------------------------------------------------------------------------------

_EXIT_FAILED = 1        # a file could not be done
_EXIT_SKIPPED = 98      # --skip-if-larger wrote nothing for a file (pngquant's code)
_EXIT_QUALITY = 99      # --min-psnr was not reached even with -k colours (pngquant's code)
_STDIO = "-"            # the input that reads stdin and writes the PNG to stdout
_STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")
_TEMPORARY = (".colorquant-", ".tmp")   # a short temporary name: any legal output name still works


class _Stopped(BaseException):
    """A signal (SIGINT, SIGTERM, SIGHUP) stopped the run: raised by the handler, caught by main."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


class _NotWritten(Exception):
    """A file done without error but not written: --skip-if-larger, or --min-psnr not reached."""

    def __init__(self, message, status):
        super().__init__(message)
        self.status = status


def _display(path):
    """A file name as printable text: bytes that are not valid in the file system's encoding as \\xNN."""
    text = os.fspath(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:   # surrogates: bytes of a name that is not UTF-8
        return os.fsencode(text).decode("utf-8", "backslashreplace")
    return text


def _say(stream, text):
    """Print one line on stream, escaping what its encoding cannot show, whatever the locale."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    print(text.encode(encoding, "backslashreplace").decode(encoding, "replace"), file=stream, flush=True)


def _result_color_count(result):
    """How many distinct colours (RGBA, with the palette's alpha) a result of compress_image shows."""
    if result.mode != "P":
        rgba = np.ascontiguousarray(np.asarray(result.convert("RGBA")))
        return len(np.unique(rgba.view("<u4")))
    used = np.flatnonzero(np.bincount(np.asarray(result).ravel(), minlength=_MAX_COLORS))
    palette = np.zeros((_MAX_COLORS, 4), dtype=np.uint8)
    palette[:, 3] = 255
    entries = np.array(result.getpalette("RGBA") or [], dtype=np.uint8).reshape(-1, 4)[:_MAX_COLORS]
    palette[: len(entries)] = entries      # a palette with alpha (compress_image's) keeps its alpha here
    transparency = result.info.get("transparency")
    if isinstance(transparency, bytes):
        palette[: len(transparency), 3] = np.frombuffer(transparency, dtype=np.uint8)[:_MAX_COLORS]
    elif isinstance(transparency, int):
        palette[transparency, 3] = 0
    return len(np.unique(palette[used], axis=0))


def _umask():
    """The process's umask (read by setting it and setting it back)."""
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _publish(temporary, target, force):
    """Give the finished temporary file its name; without force, never replace a file that exists."""
    if force:
        os.replace(temporary, target)
        return
    try:
        try:
            os.link(temporary, target)   # fails if target exists, even if it appeared a moment ago
        except FileExistsError:
            raise
        except OSError:                  # a file system without hard links: an exclusive create instead
            with open(temporary, "rb") as data, open(target, "xb") as out:
                try:
                    out.write(data.read())
                except BaseException:
                    out.close()
                    os.unlink(target)
                    raise
    except FileExistsError:
        raise FileExistsError(f"output {_display(target)!r} appeared while it was being written; "
                              "it was kept (use --force to overwrite it)") from None
    os.unlink(temporary)


def _write_png(data, target, force):
    """Write the PNG bytes at target through a temporary file in the same folder: never a half-written PNG.

    The folder is created when missing (--out-dir). Errors name the output, not the temporary file.
    """
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        prefix, suffix = _TEMPORARY
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=prefix, suffix=suffix)
    except OSError as error:
        raise OSError(f"cannot write output {_display(target)!r}: {error.strerror or error}") from error
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        os.chmod(temporary, 0o666 & ~_umask())   # a new file's usual permissions, not mkstemp's 0600
        _publish(temporary, target, force)
    except FileExistsError:
        Path(temporary).unlink(missing_ok=True)
        raise
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise OSError(f"cannot write output {_display(target)!r}: {error.strerror or error}") from error
    except BaseException:                        # a signal (_Stopped) or anything else: no file left
        Path(temporary).unlink(missing_ok=True)
        raise


def _output_path(source, args, n_colors):
    """Where the output of this input goes: -o, or <stem>_k<N>.png in --out-dir or beside the input."""
    if args.output is not None:
        return Path(args.output)
    source = Path(source)
    folder = Path(args.out_dir) if args.out_dir is not None else source.parent
    return folder / f"{source.stem}_k{n_colors}.png"


def _same_file(a, b):
    """Whether two paths name the same file (also through links), or would once written."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def _check_target(target, args, inputs):
    """Refuse an output that is an input, or that exists without --force."""
    if any(_same_file(target, other) for other in inputs):
        raise OSError(f"output {_display(target)!r} is an input file; inputs are never written to")
    try:
        exists = target.exists() or target.is_symlink()
    except OSError as error:       # such as a name too long for the file system
        raise OSError(f"cannot write output {_display(target)!r}: {error.strerror or error}") from error
    if exists and not args.force:
        raise FileExistsError(f"output {_display(target)!r} exists; use --force to overwrite it")


def _comparable(result, original):
    """The result as an array with the original's channels (RGB, or RGBA when it has transparency)."""
    return np.asarray(result.convert("RGBA" if original.shape[-1] == 4 else "RGB"))


def _fewest_colors(image, original, args):
    """The smallest k up to -k whose result reaches --min-psnr: (k, result, PSNR).

    k doubles from 1 until it reaches the target (or -k), then bisection between the last k that fell
    short and the first that reached it. The search keeps a k that reaches the target and a k - 1 that
    does not (k = 1 needs no k - 1), so the chosen k always has that property; that it is the smallest
    such k rests on PSNR rising with k, which holds in practice but is not guaranteed. The doubling
    keeps the costly large k out of the search when a small one suffices. Raises _NotWritten when even
    -k falls short.
    """
    def attempt(n_colors):
        result = compress_image(image, n_colors, seed=args.seed, dither=args.dither)
        return result, psnr(original, _comparable(result, original))

    low, high = 0, 1                 # low stands for a k that does not reach the target
    while True:
        best, quality = attempt(high)
        if quality >= args.min_psnr:
            break
        if high == args.colors:
            raise _NotWritten(f"even -k {high} gives PSNR {quality:.2f} dB, below --min-psnr "
                              f"{args.min_psnr:g} dB; nothing written", _EXIT_QUALITY)
        low, high = high, min(2 * high, args.colors)
    while high - low > 1:
        middle = (low + high) // 2
        result, middle_quality = attempt(middle)
        if middle_quality >= args.min_psnr:
            high, best, quality = middle, result, middle_quality
        else:
            low = middle
    return high, best, quality


def _compress_file(file, args, inputs):
    """Compress one input into its output; return the report line (without its [i/n] prefix)."""
    start = time.perf_counter()
    stdio = file == _STDIO
    if stdio:
        data = sys.stdin.buffer.read()
        source, name, size, target = io.BytesIO(data), "stdin", len(data), None
        source.name = name   # for messages: "cannot read image file 'stdin'"
    else:
        source, name = Path(file), file
        if args.min_psnr is None:
            target = _output_path(file, args, args.colors)
            _check_target(target, args, inputs)
    image, _ = _read_image(source)
    original = _pixels(image, name)
    if args.min_psnr is None:
        n_colors = args.colors
        result = compress_image(image, n_colors, seed=args.seed, dither=args.dither)
        quality = psnr(original, _comparable(result, original))
    else:
        n_colors, result, quality = _fewest_colors(image, original, args)
        if not stdio:
            target = _output_path(file, args, n_colors)
            _check_target(target, args, inputs)
    del image
    png = png_bytes(result)
    if not stdio:
        size = os.stat(source).st_size
    if args.skip_if_larger and len(png) > size:
        raise _NotWritten(f"skipped: the PNG would be {len(png)} bytes, larger than the input's {size}; "
                          "nothing written", _EXIT_SKIPPED)
    if stdio:
        sys.stdout.flush()
        sys.stdout.buffer.write(png)
        sys.stdout.buffer.flush()
    else:
        _write_png(png, target, args.force)
    chosen = f"k {n_colors}, " if args.min_psnr is not None else ""
    return (f"{'(stdout)' if stdio else _display(target)}: {chosen}{_result_color_count(result)} colours, "
            f"{len(png) / 1000:.1f} kB, PSNR {quality:.2f} dB, {time.perf_counter() - start:.2f} s")


def _int_in_range(low, high, check):
    """An argparse type: an int that check() accepts, else a usage error."""
    def parse(text):
        try:
            return check(int(text))
        except (TypeError, ValueError) as error:
            raise argparse.ArgumentTypeError(f"must be an int from {low} to {high}, got {text!r}") from error
    return parse


def _decibels(text):
    """An argparse type: a PSNR target in dB, a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a number of dB above 0, got {text!r}")
    return value


def _output_key(file, args):
    """What two inputs must not share: their output, or with --min-psnr (k unknown) its folder and stem."""
    target = _output_path(file, args, "<N>" if args.min_psnr is not None else args.colors)
    return os.path.normcase(os.path.realpath(target)), target


def _check_inputs(parser, args):
    """Usage errors found before any work: -, -o, and two inputs that would write one output."""
    files = args.files
    if _STDIO in files:
        if len(files) > 1:
            parser.error(f"- (stdin to stdout) must be the only input; got {len(files)} inputs")
        if args.output is not None or args.out_dir is not None:
            parser.error("- writes the PNG to stdout: -o and --out-dir are not allowed with it")
        return
    if args.output is not None:
        if len(files) > 1:
            parser.error(f"-o names the output of a single input; got {len(files)} inputs (use --out-dir)")
        output = args.output
        slash = output.endswith(("/", os.sep)) or (os.altsep and output.endswith(os.altsep))
        if slash or Path(output).is_dir():
            parser.error(f"-o names a file, got the folder {_display(output)!r} (use --out-dir for a folder)")
        folder = Path(output).parent
        if not folder.is_dir():
            parser.error(f"-o: the folder {_display(folder)!r} does not exist (-o creates no folder; "
                         "--out-dir does)")
    seen = {}
    for file in files:
        key, target = _output_key(file, args)
        if key in seen:
            parser.error(f"inputs {_display(seen[key])!r} and {_display(file)!r} would both write "
                         f"{_display(target)!r}; compress them in separate runs or rename one")
        seen[key] = file


def _parse_args(argv):
    """The command line's arguments; usage errors exit with status 2."""
    parser = argparse.ArgumentParser(
        prog="colorquant",
        description="Reduce photos to at most N colours with K-means; write indexed PNGs named "
                    "<stem>_k<N>.png beside each input (or in --out-dir). Inputs are never written to.",
        epilog="exit status: 0 all done; 1 a file failed; 2 usage error; 98 --skip-if-larger skipped a "
               "file (none failed); 99 --min-psnr not reached for a file (none failed); 128+N stopped by "
               "signal N.")
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="image files to compress; - alone reads stdin and writes the PNG to stdout")
    parser.add_argument("-k", "--colors", type=_int_in_range(1, _MAX_COLORS, _check_n_colors), default=None,
                        metavar="N", help="number of colours, 1 to 256 (default: 16); with --min-psnr, the "
                                          "most it may use (default: 256)")
    parser.add_argument("--min-psnr", type=_decibels, metavar="DB",
                        help="use the fewest colours whose PSNR reaches DB (output named by that k); "
                             "exit 99 and write nothing when even -k colours fall short")
    parser.add_argument("--skip-if-larger", action="store_true",
                        help="write nothing when the PNG would be larger than the input file (exit 98)")
    parser.add_argument("--seed", type=_int_in_range(0, "2**32 - 1", _check_seed), default=0, metavar="S",
                        help="random seed, 0 to 2**32 - 1 (default: 0): the same seed gives the same file")
    parser.add_argument("--dither", action="store_true", help="Floyd-Steinberg dithering onto the palette")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("-o", "--output", metavar="OUT",
                       help="output file (one input only; its folder must exist)")
    where.add_argument("--out-dir", metavar="DIR", help="write the outputs in DIR (created when missing)")
    parser.add_argument("--force", action="store_true", help="overwrite existing outputs")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    args = parser.parse_args(argv)
    if args.colors is None:
        args.colors = _MAX_COLORS if args.min_psnr is not None else 16
    _check_inputs(parser, args)
    return args


class _StopOnSignals:
    """While active (in the main thread), SIGINT, SIGTERM and SIGHUP raise _Stopped; restored on exit."""

    def __enter__(self):
        self.previous = {}
        if threading.current_thread() is threading.main_thread():
            for name in _STOP_SIGNALS:
                number = getattr(signal, name, None)
                if number is not None:
                    self.previous[number] = signal.signal(number, self.stop)
        return self

    def stop(self, signum, frame):
        for number in self.previous:   # a second signal must not stop the clean-up
            signal.signal(number, signal.SIG_IGN)
        raise _Stopped(signum)

    def __exit__(self, *exc):
        for number, handler in self.previous.items():
            signal.signal(number, signal.SIG_DFL if handler is None else handler)
        return False


def _quiet_stdout():
    """After a closed pipe: send what is left for stdout to /dev/null, so that the exit prints nothing."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):   # stdout is not a file (a test's capture)
        pass


def _run(args):
    """Compress every input: one line per file; return the exit status."""
    stdio = args.files == [_STDIO]
    report = sys.stderr if stdio else sys.stdout
    inputs = [] if stdio else [Path(file) for file in args.files]
    statuses = []
    for number, file in enumerate(args.files, 1):
        prefix = f"[{number}/{len(args.files)}] {_display(file)}"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
                warnings.simplefilter("ignore", category)
            try:
                line = _compress_file(file, args, inputs)
            except BrokenPipeError:      # stdout closed: not this file's fault; main ends the run quietly
                raise
            except _NotWritten as not_written:
                line, status = None, not_written.status
                message = f"{prefix}: {not_written}"
            except Exception as error:  # noqa: BLE001 - any failure ends this file only, never the batch
                line, status = None, _EXIT_FAILED
                message = f"{prefix}: error: {type(error).__name__}: {error}"
            else:
                status = 0
        for note in dict.fromkeys(str(warning.message) for warning in caught):
            _say(sys.stderr, f"{prefix}: note: {note}")
        if line is None:
            _say(sys.stderr, message)
        else:
            _say(report, f"[{number}/{len(args.files)}] {line}")
        statuses.append(status)
    for status in (_EXIT_FAILED, _EXIT_QUALITY, _EXIT_SKIPPED):
        if status in statuses:
            return status
    return 0


def main(argv=None):
    """Run the command line ``colorquant`` and return its exit status.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default: ``sys.argv[1:]``); ``colorquant --help`` lists them.

    Returns
    -------
    int
        0 when every file was done; 1 when a file failed; 2 for a usage error; 98 when
        --skip-if-larger skipped a file and none failed; 99 when a file fell short of --min-psnr and
        none failed (99 outranks 98); 128 + N when signal N (SIGINT, SIGTERM, SIGHUP) stopped the run,
        after removing the temporary file; 141 when stdout was closed (``| head -1``).
    """
    try:
        args = _parse_args(argv)
    except SystemExit as stop:   # argparse: --help (0) or a usage error (2)
        return stop.code
    try:
        with _StopOnSignals():
            return _run(args)
    except _Stopped as stopped:
        _say(sys.stderr, f"colorquant: stopped by {signal.Signals(stopped.signum).name}; "
                         "no temporary file left behind")
        return 128 + stopped.signum
    except BrokenPipeError:          # the reader went away (| head -1): end quietly
        _quiet_stdout()
        return 128 + getattr(signal, "SIGPIPE", 13)


if __name__ == "__main__":
    sys.exit(main())
