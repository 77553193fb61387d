"""Compiled kernels (numba): Lloyd's iterations with bounds, and the nearest centre of many points.

Imported only where the work pays for numba's import (about 0.2 s) and for loading the compiled code:
_kmeans calls these for fits with many points times centres, NumPy code does the small ones. The code is
compiled once and cached (``cache=True``): beside this file, or in numba's user cache directory when the
package is installed read-only.

Distances are float64 and computed as plain Lloyd computes them, (x - c)² summed over the columns in
order; among equally distant centres the first wins. So the labels are those of textbook Lloyd on the
same centres: the bounds only decide which points need measuring again, with a margin (_SLACK) that
covers their rounding.
"""
import functools
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

_SLACK = 1e-7      # bounds are trusted only by this much: their float64 rounding is below 1e-12
_SPLIT_POINTS = 1 << 14   # from this many points on, each pass runs on the machine's cores (at most
                          # _THREADS), a share of the points each: the kernels release the GIL
_THREADS = 4


@njit(cache=True, nogil=True)
def _squared(points, i, centers, j):
    total = 0.0
    for c in range(points.shape[1]):
        difference = points[i, c] - centers[j, c]
        total += difference * difference
    return total


@njit(cache=True, nogil=True)
def _prepare(centers, shift, between, half_gap, order, drift, fresh):
    """For the centres as they are now: between (centre-to-centre distances), half_gap (half of each
    centre's distance to its nearest other), order (each centre's row: all centres by their distance
    from it; sorted afresh, or from the last pass's order by insertion sort, as the centres move little
    from pass to pass) and drift (drift[a, p]: the largest shift of the p + 1 nearest centres to a, but
    a's own)."""
    k = centers.shape[0]
    half_gap[:] = np.inf
    for a in range(k):
        for b in range(a + 1, k):
            between[a, b] = between[b, a] = np.sqrt(_squared(centers, a, centers, b))
            half_gap[a] = min(half_gap[a], 0.5 * between[a, b])
            half_gap[b] = min(half_gap[b], 0.5 * between[a, b])
    for a in range(k):
        row = order[a]
        if fresh:
            row[:] = np.argsort(between[a], kind="mergesort")
        else:
            for position in range(1, k):
                j = row[position]
                key = between[a, j]
                before = position - 1
                while before >= 0 and (between[a, row[before]] > key
                                       or (between[a, row[before]] == key and row[before] > j)):
                    row[before + 1] = row[before]
                    before -= 1
                row[before + 1] = j
        largest = 0.0
        for position in range(k):
            if row[position] != a:
                largest = max(largest, shift[row[position]])
            drift[a, position] = largest


@njit(cache=True, nogil=True)
def _scan(points, i, centers, guess, between, order):
    """The first nearest centre of point i and its distance, the second nearest and its distance, and a
    lower bound on the distance to every other centre. The centres are visited by their distance from
    the guess, until none can come closer than the second."""
    k = centers.shape[0]
    to_guess = np.sqrt(_squared(points, i, centers, guess))
    best, second, third, label, runner_up = np.inf, np.inf, np.inf, k, k
    for position in range(k):
        j = order[guess, position]
        reach = between[guess, j] - to_guess   # a lower bound on the distance from the point to centre j
        if reach > 0 and reach * reach > second * (1 + _SLACK) + _SLACK:
            third = min(third, reach * reach)   # the centres not visited are at least this far
            break
        distance = _squared(points, i, centers, j)
        if distance < best or (distance == best and j < label):
            best, second, third, label, runner_up = distance, best, second, j, label
        elif distance < second or (distance == second and j < runner_up):
            second, third, runner_up = distance, second, j
        elif distance < third:
            third = distance
    return label, np.sqrt(best), runner_up, np.sqrt(second), np.sqrt(third)


@njit(cache=True, nogil=True)
def _assign(points, centers, labels, bounds, guess_known, between, order, start, stop):
    """Measure points start to stop: their nearest centre (labels) and their bounds, from scratch."""
    for i in range(start, stop):
        # without a guess, the previous point's centre: points come sorted by colour, so neighbours are alike
        guess = labels[i] if guess_known else labels[i - 1] if i > start else 0
        label, bounds[i, 0], runner_up, bounds[i, 1], bounds[i, 2] = _scan(points, i, centers, guess, between,
                                                                           order)
        labels[i] = label
        bounds[i, 3] = runner_up
    return 0


@njit(cache=True, nogil=True)
def _update(points, centers, labels, bounds, shift, between, half_gap, order, drift, start, stop):
    """One pass for points start to stop after the centres moved by shift: move their bounds, measure
    again those whose bounds cross, relabel. Returns how many labels changed."""
    k = centers.shape[0]
    changed = 0
    for i in range(start, stop):
        a = labels[i]
        b = int(bounds[i, 3])
        upper = bounds[i, 0] + shift[a]
        second = bounds[i, 1] - (shift[b] if b < k else 0.0)
        # The others: those now within reach = rest + upper of centre a came at most their largest shift
        # closer; those beyond are at least reach - upper = rest away.
        rest = bounds[i, 2]
        reach = rest + upper
        low, high = 0, k   # the centres nearer to a than reach: the first `low` of order[a]
        while low < high:
            middle = (low + high) // 2
            if between[a, order[a, middle]] < reach * (1 + _SLACK) + _SLACK:
                low = middle + 1
            else:
                high = middle
        if low:
            rest -= drift[a, low - 1]
        bounds[i, 0], bounds[i, 1], bounds[i, 2] = upper, second, rest
        bound = max(half_gap[a], min(second, rest))
        if upper * (1 + _SLACK) + _SLACK < bound:
            continue
        upper = bounds[i, 0] = np.sqrt(_squared(points, i, centers, a))
        if upper * (1 + _SLACK) + _SLACK < bound:
            continue
        label, bounds[i, 0], runner_up, bounds[i, 1], bounds[i, 2] = _scan(points, i, centers, a, between,
                                                                           order)
        bounds[i, 3] = runner_up
        if label != a:
            labels[i] = label
            changed += 1
    return changed


@njit(cache=True, nogil=True)
def _means(points, weights, labels, centers, fixed):
    """Each free centre moved to the weighted mean of its points; returns the moved centres and masses."""
    k, d = centers.shape
    sums = np.zeros((k, d))
    mass = np.zeros(k)
    for i in range(points.shape[0]):
        j = labels[i]
        mass[j] += weights[i]
        for c in range(d):
            sums[j, c] += weights[i] * points[i, c]
    moved = centers.copy()
    for j in range(fixed, k):
        if mass[j] > 0:
            for c in range(d):
                moved[j, c] = sums[j, c] / mass[j]
    return moved, mass


@functools.cache
def _pool():
    """The threads that share a pass's points (one pass at a time: calls from several threads queue)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    threads = min(_THREADS, cores)
    return (ThreadPoolExecutor(threads, thread_name_prefix="colorquant"), threads) if threads > 1 else None


def _shared(kernel, n, *args):
    """kernel(*args, start, stop) over points 0 to n, split between the pool's threads when n is large;
    returns the sum of what the calls return."""
    pool = _pool() if n >= _SPLIT_POINTS else None
    if pool is None:
        return kernel(*args, 0, n)
    pool, threads = pool
    cuts = np.linspace(0, n, threads + 1).astype(int)
    return sum(pool.map(lambda cut: kernel(*args, cuts[cut], cuts[cut + 1]), range(len(cuts) - 1)))


def lloyd(points, weights, centers, max_iter, fixed, labels, guess_known):
    """Weighted Lloyd iterations from these centres, with bounds after Hamerly (2010), in place of labels.

    Each point keeps an upper bound on the distance to its centre, a lower bound on the distance to its
    second nearest centre, and one on the distance to any other (bounds[i]: upper, second, others, and
    the second's index). After the centres move, the bounds move by as much (the others' by the largest
    shift of the centres within reach), and only points whose bounds cross are measured again, visiting
    the centres nearest theirs first. A centre left without points restarts at the points worst served
    (largest weight x squared distance), as scikit-learn does, and every point is then measured again.
    The first `fixed` centres do not move. Runs until no label changes or for max_iter updates; returns
    the centres. points, weights, centers: C-contiguous float64; labels: intp.
    """
    n, k = len(points), len(centers)
    centers = centers.copy()
    bounds = np.empty((n, 4))
    shift = np.zeros(k)
    between, half_gap = np.zeros((k, k)), np.empty(k)
    order, drift = np.empty((k, k), dtype=np.intp), np.empty((k, k))
    _prepare(centers, shift, between, half_gap, order, drift, True)
    _shared(_assign, n, points, centers, labels, bounds, guess_known, between, order)
    for _ in range(max_iter):
        moved, mass = _means(points, weights, labels, centers, fixed)
        empty = np.flatnonzero(mass[fixed:] == 0) + fixed
        if len(empty):   # an empty centre restarts at the points worst served (as scikit-learn does)
            worst = np.argsort(-(weights * bounds[:, 0] ** 2), kind="stable")[:len(empty)]
            moved[empty[:len(worst)]] = points[worst]
        shift = np.sqrt(((moved - centers) ** 2).sum(axis=1))
        centers = moved
        if not shift.any():
            break
        _prepare(centers, shift, between, half_gap, order, drift, False)
        if len(empty):   # the bounds are void after a jump: measure every point again
            _shared(_assign, n, points, centers, labels, bounds, True, between, order)
            continue
        changed = _shared(_update, n, points, centers, labels, bounds, shift, between, half_gap, order, drift)
        if changed == 0:   # the same labels: the centres are their means
            break
    return centers


@njit(cache=True, nogil=True)
def plusplus(points, weights, nearest_squared, uniforms, first):
    """Greedy k-means++ (as _kmeans._kmeans_plusplus runs it in NumPy): one centre per row of uniforms,
    the best of its candidates, drawn with probability proportional to weight x nearest_squared (the
    squared distance to the nearest centre so far, updated in place). first >= 0 is a centre chosen
    already. Returns the indices of the chosen points.

    A candidate can only bring nearer the points within the largest nearest distance of it, so only
    the points whose norm is that close to the candidate's are measured (by the triangle inequality):
    the points sorted by norm, a window each.
    """
    n = points.shape[0]
    n_centers, trials = uniforms.shape
    chosen = np.empty(n_centers + (first >= 0), dtype=np.intp)
    count = 0
    if first >= 0:
        chosen[0] = first
        count = 1
    norms = np.sqrt((points * points).sum(axis=1))
    by_norm = np.argsort(norms, kind="mergesort")
    sorted_norms = norms[by_norm]
    cumulative = np.empty(n)
    gains = np.empty(trials)
    row = 0
    while count < chosen.shape[0]:
        total = 0.0
        farthest = 0.0
        for i in range(n):
            total += weights[i] * nearest_squared[i]
            cumulative[i] = total
            farthest = max(farthest, nearest_squared[i])
        reach = np.sqrt(farthest) * (1 + 1e-9) + 1e-9
        candidates = np.minimum(np.searchsorted(cumulative, uniforms[row] * total), n - 1)
        best = 0
        for t in range(trials):   # the candidate that lowers the total the most
            c = candidates[t]
            low = np.searchsorted(sorted_norms, norms[c] - reach)
            high = np.searchsorted(sorted_norms, norms[c] + reach, side="right")
            gain = 0.0
            for position in range(low, high):
                i = by_norm[position]
                distance = _squared(points, i, points, c)
                if distance < nearest_squared[i]:
                    gain += weights[i] * (nearest_squared[i] - distance)
            gains[t] = gain
            if gain > gains[best]:
                best = t
        c = candidates[best]
        low = np.searchsorted(sorted_norms, norms[c] - reach)
        high = np.searchsorted(sorted_norms, norms[c] + reach, side="right")
        for position in range(low, high):
            i = by_norm[position]
            nearest_squared[i] = min(nearest_squared[i], _squared(points, i, points, c))
        chosen[count] = c
        count += 1
        row += 1
    return chosen


@njit(cache=True, nogil=True)
def count_codes(codes, mask):
    """The distinct values of codes & mask, sorted, and how many times each occurs: one pass over the
    codes into a table of mask + 1 counters (uint32: images of fewer than 2**32 pixels)."""
    counts = np.zeros(mask + 1, dtype=np.uint32)
    for code in codes:
        counts[code & mask] += 1
    found = 0
    for count in counts:
        if count:
            found += 1
    distinct = np.empty(found, dtype=np.int64)
    how_many = np.empty(found, dtype=np.int64)
    found = 0
    for code in range(mask + 1):
        if counts[code]:
            distinct[found] = code
            how_many[found] = counts[code]
            found += 1
    return distinct, how_many


def nearest_labels(points, centers):
    """The first nearest centre of each point (float64 distances, exact), visiting each point's centres
    by their distance from the previous point's (the points come sorted by colour: neighbours alike)."""
    k = len(centers)
    between, half_gap = np.zeros((k, k)), np.empty(k)
    order, drift = np.empty((k, k), dtype=np.intp), np.empty((k, k))
    _prepare(centers, np.zeros(k), between, half_gap, order, drift, True)
    labels = np.zeros(len(points), dtype=np.intp)
    _shared(_assign, len(points), points, centers, labels, np.empty((len(points), 4)), False, between, order)
    return labels
