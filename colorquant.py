"""Colour compression with K-means: `compress_image` reduces a photo to at most k colours.

    from colorquant import compress_image
    compress_image("photo.jpg", 16, seed=0).save("photo_k16.png")   # an indexed PNG

The steps, each a function below: read the input; get RGBA pixels and alpha; weighted distinct
colours; fit the palette; index the image; build the result. As a command line:

    python -m colorquant [-k N] [--seed S] [--dither] [-o OUT | --out-dir DIR] [--force] FILE...
"""
import argparse
import functools
import io
import numbers
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from PIL.PngImagePlugin import PngInfo
from threadpoolctl import ThreadpoolController

MAX_COLORS = 256          # a PNG palette holds at most 256 colours
MAX_SEED = 2**32 - 1      # the largest seed NumPy and scikit-learn accept
# fit_palette's constants. Tuned on the sample photos (benchmarks/samples.py: tulips, china, flower) against
# the best of 10 K-means runs (build/reference_psnr.json, benchmarks/compress_benchmark.py), with the
# figures found (differences in dB from the reference; seed 0 unless said). Start-to-start noise is about
# 0.03 dB, so differences below that were not counted.
HISTOGRAM_BITS = (4, 5, 6)   # grid resolutions (bits per channel), coarse to fine. A fit converged on the
                             # 6-bit grid (15k to 33k cells) was 0.02 to 0.06 dB from the exact colours'
                             # after 10 more iterations on them, against 0.08 from the 5-bit grid
CELLS_PER_COLOR = 16      # a grid is used when it has this many cells per colour: at k = 64 (seeds 0-3),
                          # 16 against 8 lifted flower from 0.060 to 0.022 dB below the reference on
                          # average (the starts then run on the 5-bit grid, not the 4-bit one)
TRIALS = 5                # k-means++ starts up to MANY_COLORS colours. Over seeds 0-2, 10 starts against 5
                          # were 0.00 to 0.03 dB closer to the reference at k = 32 and 64 (flower, k = 64:
                          # 0.009 against 0.042 dB below it), at 1.3 to 1.4 times the time
RANKING_CELLS = 10_000    # the starts go on together through the grids of at most this many cells (the
                          # coarsest ranked them poorly; fits there are cheap), then only the best. At
                          # k = 32 (seeds 0-2), ranking on the coarsest grid alone left tulips 0.019 dB
                          # below the reference on average, ranking on the next one 0.004
SMALL_TRIALS = 30         # starts when the colours are too few for a grid (then each start is cheap): on
                          # the soft shadow at k = 16, 10 starts gave 40.80 dB, 30 to 100 gave 40.82-40.83
MANY_COLORS = 64          # above, one start: at k = 128, 5 starts gained 0.01 to 0.02 dB on average over
                          # seeds 0-3, in 2.5 times the time
COARSE_ITERATIONS = 100   # a cap: at k = 256, 30 and 100 gave the same palettes (the fits converge sooner)
FINE_ITERATIONS = 30      # cap on each finer grid: at k = 256, 30 gave the PSNR of 100 (within 0.001 dB)
                          # in half the time
EXACT_ITERATIONS = 40     # cap on every distinct colour: at k = 256, 5 / 10 / 20 / 40 iterations were
                          # 0.04-0.09 / 0.03-0.07 / 0.02-0.05 / 0.00-0.03 dB below the reference; at
                          # k = 128, flower went from 0.07 to 0.05 dB below it with 40 against 20
EXACT_LIMIT = 1 << 18     # above this many distinct colours (big photos), the finest grid's fit is kept
CHUNK = 1 << 22           # values computed per block, so memory stays flat
FLOAT32_MARGIN = 1.0      # squared distances from float32 products may be this much too large
BLOCK = 1 << 17           # distances (rows x centres) per block: small enough to stay in the CPU's cache
DENSE_GRID_BITS = 18      # grids of up to 2**18 cells are counted densely, larger ones sorted
FULL_COUNT_PIXELS = 1 << 22   # from this many pixels on, one full histogram pass beats sorting the codes
CODE_BITS = 24            # one colour code: 8 bits each of red, green and blue
RGB_MASK = (1 << CODE_BITS) - 1
EXIF_ORIENTATION = 0x0112    # the EXIF tag that says how to turn the photo upright
ICC_COLOR_SPACE = slice(16, 20)   # bytes of an ICC profile's header that name its colour space
ARRAY_MODES = {1: "L", 3: "RGB", 4: "RGBA"}   # Pillow mode of an array by its number of channels


def check_int(value, name, low, high, allowed):
    """Return value as an int if it is an integer (not a bool) from low to high, else raise TypeError or ValueError."""
    message = f"{name} must be {allowed}, got {value!r}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(message)
    if not low <= value <= high:
        raise ValueError(message)
    return int(value)


def check_n_colors(n_colors):
    """Return n_colors if it is an int from 1 to 256, else raise TypeError or ValueError."""
    return check_int(n_colors, "n_colors", 1, MAX_COLORS, f"an int from 1 to {MAX_COLORS}")


def check_seed(seed):
    """Return seed if it is None or an int from 0 to 2**32 - 1, else raise TypeError or ValueError."""
    return None if seed is None else check_int(seed, "seed", 0, MAX_SEED, "an int from 0 to 2**32 - 1 or None")


# --- step 1: read the input ---------------------------------------------------------------------------

def scale_16_to_8(values):
    """16-bit values (0..65535) rounded to 8 bits (0..255), as uint8."""
    return ((np.asarray(values, dtype=np.int64) * 255 + 32767) // 65535).astype(np.uint8)


def array_image(array):
    """A PIL image of a NumPy array (H, W), (H, W, 3) or (H, W, 4): uint8, uint16, or float in [0, 1]."""
    if array.dtype == np.uint8:
        pixels = array
    elif array.dtype == np.uint16:
        pixels = scale_16_to_8(array)
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
    if channels not in ARRAY_MODES or 0 in array.shape:
        raise ValueError(f"an image array must have shape (H, W), (H, W, 3) or (H, W, 4), got shape {array.shape}")
    return Image.fromarray(np.ascontiguousarray(pixels), ARRAY_MODES[channels])


def open_file(file, name):
    """Open and fully decode an image file (a path or a binary file object); errors name it."""
    try:
        with Image.open(file) as opened:   # refuses a decompression bomb from its header, before decoding
            opened.load()                  # the pixels stay when the file closes: no copy needed
            return opened
    except Image.DecompressionBombError as error:
        raise OSError(f"refused image file {name!r}, not decoded: {error}") from error
    except (OSError, ValueError, SyntaxError) as error:
        raise OSError(f"cannot read image file {name!r}: {error}") from error


def read_image(source):
    """Read a path, binary file object, PIL image or NumPy array as a PIL image, upright by its EXIF orientation."""
    if isinstance(source, Image.Image):   # the caller's image: turned upright in a copy, if at all
        if source.getexif().get(EXIF_ORIENTATION, 1) == 1:
            return source, "the given image"
        return ImageOps.exif_transpose(source), "the given image"
    if isinstance(source, np.ndarray):
        return array_image(source), "the given array"
    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        image = open_file(name, name)
    elif hasattr(source, "read"):
        name = getattr(source, "name", None) or f"the given {type(source).__name__}"
        image = open_file(source, name)
    else:
        raise TypeError("source must be a path, a binary file object, a PIL.Image.Image or a NumPy array, "
                        f"got {type(source).__name__}")
    ImageOps.exif_transpose(image, in_place=True)   # our own copy: no second one
    return image, name


def rgb_profile(image):
    """The image's ICC profile if it describes RGB colours (not CMYK or grayscale), else None."""
    profile = image.info.get("icc_profile")
    if isinstance(profile, bytes) and profile[ICC_COLOR_SPACE] == b"RGB ":
        return profile
    return None


def load_rgb(source):
    """Read an image the way compress_image does, as an (H, W, 3) uint8 RGB array (alpha dropped).

    source is anything compress_image accepts: a path, a binary file object, a PIL image, or a NumPy
    array. The photo is turned upright by its EXIF orientation; 16-bit and float images are scaled
    to 8 bits.
    """
    image, name = read_image(source)
    return np.ascontiguousarray(rgba_pixels(image, name)[0][..., :3])


# --- step 2: get RGBA pixels and alpha ----------------------------------------------------------------

def rgba_pixels(image, name):
    """Return the pixels as an (H, W, 4) uint8 RGBA array, and whether the image has transparency."""
    if image.mode.startswith("I"):
        # 16-bit grayscale: scale 0..65535 to 0..255 (a plain convert("RGB") clips it to white).
        # Mode "I" (32-bit) holds 16-bit scans too; with no value above 255 it is taken as 8-bit.
        wide = np.clip(np.asarray(image, dtype=np.int64), 0, 65535)
        image = Image.fromarray(scale_16_to_8(wide) if image.mode != "I" or wide.max() > 255
                                else wide.astype(np.uint8))
    try:
        return np.asarray(image.convert("RGBA")), image.has_transparency_data
    except ValueError as error:
        raise ValueError(f"cannot convert {name} (mode {image.mode}) to RGB: {error}") from error


# --- step 3: weighted distinct colours ----------------------------------------------------------------

def color_codes(rgba):
    """One integer per pixel, without a copy: red + 256 green + 65536 blue, and alpha in the top byte."""
    # 24-bit packing: the 4 bytes of an RGBA pixel read as one little-endian uint32; masking off the alpha
    # byte (& RGB_MASK, block by block where used) leaves a colour code that sorts, counts and indexes far
    # faster than rows of 3 values.
    return rgba.view("<u4").reshape(-1)


def count_colors(codes):
    """Distinct 24-bit colour codes (alpha masked off), sorted, and how many pixels have each."""
    if codes.size >= FULL_COUNT_PIXELS:   # in blocks: bincount copies its input to 64-bit integers
        counts = np.zeros(1 << CODE_BITS, dtype=np.int64)
        for start in range(0, codes.size, 2 * CHUNK):
            counts += np.bincount(codes[start:start + 2 * CHUNK] & RGB_MASK, minlength=1 << CODE_BITS)
        distinct = np.flatnonzero(counts)
        return distinct, counts[distinct]
    return np.unique(codes & RGB_MASK, return_counts=True)


def decode_colors(codes, alpha=False):
    """The (N, 3) uint8 RGB colours of colour codes, or (N, 4) RGBA with alpha=True (alpha: the top byte)."""
    codes = np.asarray(codes, dtype=np.uint32)
    return np.stack([(codes >> shift) & 255 for shift in (0, 8, 16, 24)[:4 if alpha else 3]],
                    axis=1).astype(np.uint8)


def weighted_colors(codes):
    """Distinct 24-bit colour codes, their RGB colours and weights (pixel counts, as floats)."""
    distinct, counts = count_colors(codes)
    return distinct, decode_colors(distinct), counts.astype(np.float64)


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
    step = max(1, BLOCK // len(centers))
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
    lower = np.sqrt(np.maximum(squared_norms + 2 * runner_up - FLOAT32_MARGIN, 0))
    return labels, _distance(points, centers[labels]), lower


def _distance(points, centers):
    """Euclidean distance of each point to the centre in the same row (float64)."""
    difference = np.asarray(points, dtype=np.float64) - centers
    return np.sqrt(np.einsum("ij,ij->i", difference, difference))


def color_histogram(points, weights, bits):
    """Merge points into cells of a grid with 2**bits levels per channel: mean point and weight per cell."""
    cell_id = np.zeros(len(points), dtype=np.int64)
    for channel in range(points.shape[1]):
        cell_id = (cell_id << bits) | (points[:, channel].astype(np.int64) >> (8 - bits))
    if bits * points.shape[1] <= DENSE_GRID_BITS:   # a small grid: count every cell, occupied or not
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


def fit_palette(points, weights, n_colors, seed, fixed=None):
    """K-means centres of weighted colours: coarse-to-fine weighted K-means from k-means++ starts.

    The technique: weighted K-means (Lloyd's algorithm, with Hamerly's bounds, in _lloyd), run coarse to
    fine. The colours are merged into the cells of grid histograms (HISTOGRAM_BITS; each cell: the mean
    of its colours, weighted by their pixel counts), so that the early iterations, where the centres
    move far, are cheap. TRIALS k-means++ starts (_kmeans_plusplus) run on the coarsest grid and on the
    next ones up to RANKING_CELLS cells, where the best is kept; it goes on to each finer grid and last to
    every distinct colour (unless there are more than EXACT_LIMIT), each level starting from the previous
    level's centres.

    points: (N, 3) distinct RGB colours, or (N, 4) premultiplied RGBA; weights: their pixel counts.
    fixed: centres that stay where they are (the transparent entry), counted in n_colors.
    Returns the (n_colors, d) float64 centres, the fixed ones first.
    """
    fixed = np.zeros((0, points.shape[1])) if fixed is None else np.asarray(fixed, dtype=np.float64)
    free = n_colors - len(fixed)
    levels = [color_histogram(points, weights, bits) for bits in HISTOGRAM_BITS]
    levels = [level for level in levels if len(level[0]) >= CELLS_PER_COLOR * n_colors]
    exact = len(points) <= EXACT_LIMIT
    if exact or not levels:
        levels.append((np.asarray(points, dtype=np.float64), weights))
    rng = np.random.default_rng(seed)
    trials = 1 if n_colors > MANY_COLORS else TRIALS if len(levels) > 1 else SMALL_TRIALS
    starts = [np.vstack([fixed, _kmeans_plusplus(*levels[0], free, fixed, rng)]) for _ in range(trials)]
    for depth, (level, level_weights) in enumerate(levels):   # coarse to fine
        iterations = (COARSE_ITERATIONS if depth == 0
                      else EXACT_ITERATIONS if exact and level is levels[-1][0] else FINE_ITERATIONS)
        fits = [_lloyd(level, level_weights, start, iterations, len(fixed)) for start in starts]
        if depth + 1 < len(levels) and len(levels[depth + 1][0]) <= RANKING_CELLS:   # all go on together
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

def index_image(codes, distinct, color_to_index, shape):
    """The (H, W) uint8 palette index of every pixel, from its colour code."""
    # Lookup table: one byte for each of the 2**24 possible colour codes (16 MiB), so mapping every pixel
    # to its palette index is a single gather instead of a search per pixel.
    lookup = np.zeros(1 << CODE_BITS, dtype=np.uint8)
    lookup[distinct] = color_to_index
    index = np.empty(codes.size, dtype=np.uint8)
    for start in range(0, codes.size, CHUNK):      # in blocks: indexing copies the codes to 64 bits
        np.take(lookup, codes[start:start + CHUNK] & RGB_MASK, out=index[start:start + CHUNK])
    return index.reshape(shape)


def dither_index(rgba, palette):
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
    codes = color_codes(rgba)
    distinct, colors, weights = weighted_colors(codes)
    if len(colors) <= n_colors:            # few colours already: keep them exactly
        palette, color_to_index = colors, np.arange(len(colors))
        dither = False
    else:
        with _threadpools().limit(limits=1):   # small products: extra threads only wait on each other
            centers = fit_palette(colors, weights, n_colors, seed)
        palette = np.clip(np.rint(centers), 0, 255).astype(np.uint8)
        color_to_index = nearest(colors, palette)
    if dither:
        return palette, dither_index(rgba, palette)
    return palette, index_image(codes, distinct, color_to_index, rgba.shape[:2])


def _quantize_transparent(rgba, n_colors, seed, dither):
    """Palette ((n, 4) uint8 RGBA) and (H, W) index of an image with transparency, as pngquant does it.

    Every invisible pixel becomes transparent black, so their colours do not count. With on/off alpha,
    one entry is fully transparent and the others are fitted to the visible colours; with graded alpha,
    K-means runs in premultiplied RGBA (colour times alpha / 255, and alpha), with a fully transparent
    entry held fixed when some pixels are invisible. The transparent entry counts towards n_colors.
    """
    codes = np.where(rgba[..., 3].reshape(-1) > 0, color_codes(rgba), 0)   # code 0: transparent black
    distinct, inverse, counts = np.unique(codes, return_inverse=True, return_counts=True)
    colors, weights = decode_colors(distinct, alpha=True), counts.astype(np.float64)
    clear = colors[0, 3] == 0             # some pixels are invisible: code 0 sorts first
    if len(colors) <= n_colors:           # few colours already: keep them exactly
        palette, color_to_index = colors, np.arange(len(colors))
    elif clear and n_colors > 1 and colors[1:, 3].min() == 255:   # on/off alpha
        with _threadpools().limit(limits=1):
            centers = fit_palette(colors[1:, :3], weights[1:], n_colors - 1, seed)
        opaque = np.clip(np.rint(centers), 0, 255).astype(np.uint8)
        palette = np.vstack([np.zeros((1, 4), np.uint8),
                             np.column_stack([opaque, np.full(len(opaque), 255)])])
        color_to_index = np.concatenate([[0], 1 + nearest(colors[1:, :3], opaque)])
    else:                                 # graded alpha
        points = _premultiply(colors)
        fixed = np.zeros((1, 4)) if clear and n_colors > 1 else None
        with _threadpools().limit(limits=1):
            centers = fit_palette(points, weights, n_colors, seed, fixed)
        palette = _unpremultiply(centers)
        color_to_index = nearest(points, _premultiply(palette))   # as the palette's entries show
    index = color_to_index.astype(np.uint8)[inverse].reshape(rgba.shape[:2])
    if dither and len(colors) > n_colors:
        index = _dither_premultiplied(rgba, palette)
    return palette, index


def compress_image(source, n_colors=16, *, seed=0, dither=False):
    """Return a copy of the photo with at most n_colors colours, chosen by K-means, as a palette ('P') image.

    source: a path, a binary file object, a PIL image, or a NumPy array (H, W), (H, W, 3) or (H, W, 4)
    of uint8, uint16 or floats in [0, 1]. seed: an int from 0 to 2**32 - 1, or None for a random start.
    dither: map the photo onto the palette with Floyd-Steinberg dithering (in premultiplied RGBA for
    images with transparency, fully transparent pixels left clear). An RGB ICC profile is kept.

    Transparency is kept as pngquant keeps it: an opaque RGBA image gives a plain palette; with on/off
    alpha, one palette entry is fully transparent; with graded alpha, the palette's entries carry alpha
    (saved as a PNG's tRNS chunk). A transparent entry counts towards n_colors. The palette is fitted in
    premultiplied RGBA, so fully transparent pixels' colours do not count.

    Examples
    --------
    >>> import numpy as np
    >>> pixels = np.random.default_rng(0).integers(0, 256, size=(32, 48, 3), dtype=np.uint8)
    >>> result = compress_image(pixels, 8, seed=0)
    >>> result.mode, result.size, len(result.getpalette()) // 3 <= 8
    ('P', (48, 32), True)
    """
    n_colors = check_n_colors(n_colors)
    seed = check_seed(seed)
    image, name = read_image(source)
    profile = rgb_profile(image)
    rgba, has_alpha = rgba_pixels(image, name)
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

def _order_palette(palette, index):
    """The palette and index reordered so that the PNG compresses well; the pixels' colours stay the same.

    palette: an (n, 3) or (n, 4) uint8 array (RGB or RGBA entries); index: an (H, W) uint8 array.
    Returns the reordered (palette, index), of the same shapes and dtypes.
    """
    return palette, index


def png_bytes(image, *, text=None):
    """The PNG file of a PIL image, as bytes: what the command line writes.

    text: an optional dict of PNG text chunks (such as a credit) to store in the file.
    An RGB ICC profile in image.info["icc_profile"] is kept.
    """
    info = None
    if text:
        info = PngInfo()
        for key, value in text.items():
            info.add_text(key, value)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True, pnginfo=info,
               icc_profile=image.info.get("icc_profile"))
    return buffer.getvalue()


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
    rows = max(1, CHUNK // max(1, first[0].size))
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

def result_color_count(result):
    """How many distinct colours a result of compress_image shows (alpha aside)."""
    if result.mode == "P":
        used = np.bincount(np.asarray(result).ravel(), minlength=MAX_COLORS) > 0
        palette = np.array(result.getpalette()).reshape(-1, 3)[: len(used)]
        return len(np.unique(palette[used[: len(palette)]], axis=0))
    return len(count_colors(color_codes(np.asarray(result.convert("RGBA"))))[0])


def write_png(image, path):
    """Save image as a PNG at path through a temporary file and a rename: never a half-written PNG."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(png_bytes(image))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)   # the permissions of a newly created file, not mkstemp's 0600
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def output_path(source, args):
    """Where the output of this input goes: -o, or <stem>_k<N>.png in --out-dir or beside the input."""
    if args.output is not None:
        return Path(args.output)
    folder = Path(args.out_dir) if args.out_dir is not None else source.parent
    return folder / f"{source.stem}_k{args.colors}.png"


def same_file(a, b):
    """Whether two paths name the same file (also through links), or would once written."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def compress_file(source, target, args, inputs):
    """Compress one file into target; return its report: colours, kB, PSNR in dB."""
    if any(same_file(target, other) for other in inputs):
        raise OSError(f"output {str(target)!r} is an input file; inputs are never written to")
    if target.exists() and not args.force:
        raise OSError(f"output {str(target)!r} exists; use --force to overwrite it")
    image, name = read_image(source)
    result = compress_image(image, args.colors, seed=args.seed, dither=args.dither)
    original = rgba_pixels(image, name)[0][..., :3]
    quality = psnr(original, np.asarray(result.convert("RGB")))
    target.parent.mkdir(parents=True, exist_ok=True)
    write_png(result, target)
    return result_color_count(result), target.stat().st_size / 1000, quality


def int_in_range(low, high, check):
    """An argparse type: an int that check() accepts, else a usage error."""
    def parse(text):
        try:
            return check(int(text))
        except (TypeError, ValueError) as error:
            raise argparse.ArgumentTypeError(f"must be an int from {low} to {high}, got {text!r}") from error
    return parse


def parse_args(argv):
    """The command line's arguments; usage errors exit with status 2."""
    parser = argparse.ArgumentParser(
        prog="python -m colorquant",
        description="Reduce photos to at most N colours with K-means; write indexed PNGs named <stem>_k<N>.png "
                    "beside each input (or in --out-dir). Inputs are never written to.")
    parser.add_argument("files", nargs="+", metavar="FILE", help="image files to compress")
    parser.add_argument("-k", "--colors", type=int_in_range(1, MAX_COLORS, check_n_colors), default=16,
                        metavar="N", help="number of colours, 1 to 256 (default: 16)")
    parser.add_argument("--seed", type=int_in_range(0, "2**32 - 1", check_seed), default=0, metavar="S",
                        help="random seed, 0 to 2**32 - 1 (default: 0): the same seed gives the same file")
    parser.add_argument("--dither", action="store_true", help="Floyd-Steinberg dithering onto the palette")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("-o", "--output", metavar="OUT", help="output file (one input only)")
    where.add_argument("--out-dir", metavar="DIR", help="write the outputs in DIR (created when missing)")
    parser.add_argument("--force", action="store_true", help="overwrite existing outputs")
    args = parser.parse_args(argv)
    if args.output is not None and len(args.files) > 1:
        parser.error(f"-o names the output of a single input; got {len(args.files)} inputs (use --out-dir)")
    return args


def main(argv=None):
    """Run the command line: one report line per file on stdout, errors on stderr; return the exit status."""
    args = parse_args(argv)
    inputs = [Path(file) for file in args.files]
    failed = 0
    for number, source in enumerate(inputs, 1):
        prefix = f"[{number}/{len(inputs)}]"
        target = output_path(source, args)
        start = time.perf_counter()
        try:
            colors, kilobytes, quality = compress_file(source, target, args, inputs)
        except (OSError, ValueError, TypeError) as error:
            failed += 1
            print(f"{prefix} {source}: error: {error}", file=sys.stderr)
            continue
        print(f"{prefix} {target}: {colors} colours, {kilobytes:.1f} kB, PSNR {quality:.2f} dB, "
              f"{time.perf_counter() - start:.2f} s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
