"""Weighted K-means on distinct colours: k-means++ starts, Lloyd's iterations with Hamerly's bounds,
coarse to fine over colour grids."""
import functools

import numpy as np
from threadpoolctl import ThreadpoolController

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
_FLOAT32_MARGIN = 1.0      # squared distances from float32 products may be this much too large
_BLOCK = 1 << 17           # distances (rows x centres) per block: small enough to stay in the CPU's cache
_DENSE_GRID_BITS = 18      # grids of up to 2**18 cells are counted densely, larger ones sorted
_KERNEL_WORK = 1 << 21     # points x centres from which a fit runs compiled (_kernels, numba): below, NumPy.
                          # Loading numba and its cached code costs a process about 0.5 s once (numba
                          # imports scipy.linalg for its BLAS); the tulips' 96k colours at k = 16 (1.5M) fit
                          # in NumPy in less, at k = 32 and above the kernel is 5 to 20 times faster


def nearest(colors, centers):
    """Index of the nearest centre for each row of colors (squared Euclidean distance), in blocks;
    compiled and exact (float64) from _KERNEL_WORK colours x centres on. No centres: a ValueError."""
    if len(centers) == 0:
        raise ValueError(f"nearest needs at least one centre, got centers of shape {np.shape(centers)}")
    if len(colors) * len(centers) >= _KERNEL_WORK:
        kernels = _kernels()
        if kernels is not None:
            return kernels.nearest_labels(np.ascontiguousarray(colors, dtype=np.float64),
                                          np.ascontiguousarray(centers, dtype=np.float64))
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
    if bits * points.shape[1] <= _DENSE_GRID_BITS:   # a small grid: its occupied cells numbered by counting
        present = np.bincount(cell_id, minlength=1 << (bits * points.shape[1])) > 0
        cell_of, cells_total = (np.cumsum(present) - 1)[cell_id], int(np.count_nonzero(present))
    else:                                           # a large one: number the occupied cells (a sort)
        occupied, cell_of = np.unique(cell_id, return_inverse=True)
        cells_total = len(occupied)
    cell_weight = np.bincount(cell_of, weights=weights, minlength=cells_total)
    sums = np.stack([np.bincount(cell_of, weights=weights * points[:, c], minlength=cells_total)
                     for c in range(points.shape[1])], axis=1)
    occupied = np.flatnonzero(cell_weight)
    return sums[occupied] / cell_weight[occupied, None], cell_weight[occupied]


@functools.cache
def _kernels():
    """The compiled kernels (module _kernels), or None where numba cannot be imported, or cannot cache
    its compiled code (RuntimeError: neither beside the package nor in the user's cache directory is
    writable, and compiling in every process would cost more than it saves): NumPy then does all the
    work, only slower."""
    try:
        from . import _kernels
    except (ImportError, RuntimeError):
        return None
    return _kernels


def _lloyd(points, weights, centers, max_iter, fixed=0, compiled=None):
    """Weighted K-means: Lloyd's iterations from these centres, with Hamerly's bounds (2010): compiled
    (_kernels.lloyd) with compiled=True or, by default, when there are at least _KERNEL_WORK points x
    centres; else in NumPy (_lloyd_numpy). Both give the labels of plain Lloyd iterations from the same
    centres. Returns the centres (float64) and the labels."""
    if compiled is None:
        compiled = len(points) * len(centers) >= _KERNEL_WORK
    kernels = _kernels() if compiled else None
    if kernels is None:
        return _lloyd_numpy(points, weights, centers, max_iter, fixed)
    labels = np.zeros(len(points), dtype=np.intp)
    centers = kernels.lloyd(np.ascontiguousarray(points, dtype=np.float64),
                            np.ascontiguousarray(weights, dtype=np.float64),
                            np.ascontiguousarray(centers, dtype=np.float64), max_iter, fixed, labels, False)
    return centers, labels


def _lloyd_numpy(points, weights, centers, max_iter, fixed=0):
    """Weighted K-means: Lloyd's iterations from these centres, with Hamerly's bounds (2010), in NumPy.

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
    # worth loading numba (where it can be): then every level uses it
    compiled = len(levels[-1][0]) * n_colors >= _KERNEL_WORK and _kernels() is not None
    rng = np.random.default_rng(seed)
    trials = 1 if n_colors > _MANY_COLORS else _TRIALS if len(levels) > 1 else _SMALL_TRIALS
    starts = [np.vstack([fixed, _kmeans_plusplus(*levels[0], free, fixed, rng, compiled)])
              for _ in range(trials)]
    for depth, (level, level_weights) in enumerate(levels):   # coarse to fine
        iterations = (_COARSE_ITERATIONS if depth == 0
                      else _EXACT_ITERATIONS if exact and level is levels[-1][0] else _FINE_ITERATIONS)
        fits = [_lloyd(level, level_weights, start, iterations, len(fixed), compiled) for start in starts]
        if depth + 1 < len(levels) and len(levels[depth + 1][0]) <= _RANKING_CELLS:   # all go on together
            starts = [centers for centers, _ in fits]
        else:                                                                   # the best goes on
            starts = [min(fits, key=lambda fit: _weighted_error(level, level_weights, *fit))[0]]
    return starts[0]


def _kmeans_plusplus(points, weights, n_centers, fixed, rng, compiled=False):
    """Greedy k-means++ starting centres of weighted points (Arthur and Vassilvitskii 2007, as scikit-learn
    runs it): each centre is the best of 2 + ln(k) candidates drawn with probability proportional to
    weight x squared distance to the nearest centre so far (fixed centres count as chosen). compiled=True
    runs the loop in _kernels.plusplus."""
    points = np.ascontiguousarray(points, dtype=np.float64)
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
    if compiled:   # the same draws, in the same order, as the loop below
        uniforms = rng.uniform(size=(n_centers - len(chosen), trials))
        chosen = _kernels().plusplus(points, np.ascontiguousarray(weights, dtype=np.float64),
                                     np.ascontiguousarray(nearest_squared), uniforms,
                                     chosen[0] if chosen else -1)
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


@functools.cache
def _threadpools():
    """The BLAS and OpenMP thread pools, found once (each search takes about 15 ms)."""
    return ThreadpoolController()
