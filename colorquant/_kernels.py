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
import numpy as np
from numba import njit

_SLACK = 1e-7      # bounds are trusted only by this much: their float64 rounding is below 1e-12


@njit(cache=True, nogil=True)
def _squared(points, i, centers, j):
    total = 0.0
    for c in range(points.shape[1]):
        difference = points[i, c] - centers[j, c]
        total += difference * difference
    return total


@njit(cache=True, nogil=True)
def nearest_labels(points, centers):
    """The first nearest centre of each point (squared Euclidean distance, float64)."""
    labels = np.empty(points.shape[0], dtype=np.intp)
    for i in range(points.shape[0]):
        best, label = np.inf, 0
        for j in range(centers.shape[0]):
            distance = _squared(points, i, centers, j)
            if distance < best:
                best, label = distance, j
        labels[i] = label
    return labels


@njit(cache=True, nogil=True)
def _neighbours(centers, between, half_gap, ready):
    """Fill between (centre-to-centre distances) and half_gap (half of each centre's distance to its
    nearest other); mark every centre's sorted neighbours stale (ready[a] = False)."""
    k = centers.shape[0]
    half_gap[:] = np.inf
    for a in range(k):
        ready[a] = False
        for b in range(a + 1, k):
            between[a, b] = between[b, a] = np.sqrt(_squared(centers, a, centers, b))
            half_gap[a] = min(half_gap[a], 0.5 * between[a, b])
            half_gap[b] = min(half_gap[b], 0.5 * between[a, b])


@njit(cache=True, nogil=True)
def _sort_neighbours(a, between, order, ready):
    """order[a]: the centres by their distance from centre a, by insertion sort from the last pass's order
    (the centres move little from pass to pass, so it is nearly sorted already)."""
    row = order[a]
    for position in range(1, row.shape[0]):
        j = row[position]
        key = between[a, j]
        before = position - 1
        while before >= 0 and (between[a, row[before]] > key
                               or (between[a, row[before]] == key and row[before] > j)):
            row[before + 1] = row[before]
            before -= 1
        row[before + 1] = j
    ready[a] = True


@njit(cache=True, nogil=True)
def _scan(points, i, centers, guess, between, order, ready):
    """The first nearest centre of point i and its distance, the second nearest and its distance, and a
    lower bound on the distance to every other centre. The centres are visited by their distance from
    the guess, until none can come closer than the second."""
    k = centers.shape[0]
    if not ready[guess]:
        _sort_neighbours(guess, between, order, ready)
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
def _workspace(k):
    """between, half_gap, order (each row all the centres, to be sorted) and ready, for k centres."""
    order = np.empty((k, k), dtype=np.intp)
    for a in range(k):
        order[a] = np.arange(k)
    return np.zeros((k, k)), np.empty(k), order, np.zeros(k, dtype=np.bool_)


@njit(cache=True, nogil=True)
def _assign_all(points, centers, labels, bounds, guess_known, between, half_gap, order, ready):
    _neighbours(centers, between, half_gap, ready)
    for i in range(points.shape[0]):
        # without a guess, the previous point's centre: points come sorted by colour, so neighbours are alike
        guess = labels[i] if guess_known else labels[i - 1] if i else 0
        label, bounds[i, 0], runner_up, bounds[i, 1], bounds[i, 2] = _scan(points, i, centers, guess, between,
                                                                           order, ready)
        labels[i] = label
        bounds[i, 3] = runner_up


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


@njit(cache=True, nogil=True)
def lloyd(points, weights, centers, max_iter, fixed, labels, guess_known):
    """Weighted Lloyd iterations from these centres, with bounds after Hamerly (2010), in place of labels.

    Each point keeps an upper bound on the distance to its centre, a lower bound on the distance to its
    second nearest centre, and one on the distance to any other (bounds[i]: upper, second, others, and
    the second's index). After the centres move, the bounds move by as much, and only points whose
    bounds cross are measured again, visiting the centres nearest theirs first. A centre left without
    points restarts at the points worst served (largest weight x squared distance), as scikit-learn
    does, and every point is then measured again. The first `fixed` centres do not move. Runs until no
    label changes or for max_iter updates; returns the centres.
    """
    n = points.shape[0]
    k = centers.shape[0]
    centers = centers.copy()
    bounds = np.empty((n, 4))
    between, half_gap, order, ready = _workspace(k)
    _assign_all(points, centers, labels, bounds, guess_known, between, half_gap, order, ready)
    shift = np.zeros(k)
    drift = np.empty((k, k))
    for _ in range(max_iter):
        moved, mass = _means(points, weights, labels, centers, fixed)
        empty = 0
        for j in range(fixed, k):
            if mass[j] == 0:
                empty += 1
        if empty:
            worst = np.argsort(-(weights * bounds[:, 0] * bounds[:, 0]), kind="mergesort")
            taken = 0
            for j in range(fixed, k):
                if mass[j] == 0 and taken < n:
                    moved[j] = points[worst[taken]]
                    taken += 1
        for j in range(k):
            shift[j] = np.sqrt(_squared(moved, j, centers, j))
        centers = moved
        if shift.max() == 0:
            break
        if empty:   # the bounds are void after a jump: measure every point again
            _assign_all(points, centers, labels, bounds, True, between, half_gap, order, ready)
            continue
        _neighbours(centers, between, half_gap, ready)
        for a in range(k):   # drift[a, p]: the largest shift of the p nearest centres to a, but a
            _sort_neighbours(a, between, order, ready)
            largest = 0.0
            for position in range(k):
                j = order[a, position]
                if j != a:
                    largest = max(largest, shift[j])
                drift[a, position] = largest
        changed = 0
        for i in range(n):
            a = labels[i]
            b = int(bounds[i, 3])
            upper = bounds[i, 0] + shift[a]
            second = bounds[i, 1] - (shift[b] if b < k else 0.0)
            # The others: those now within reach = rest + upper of centre a came at most their largest
            # shift closer; those beyond are at least reach - upper = rest away.
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
                                                                               order, ready)
            bounds[i, 3] = runner_up
            if label != a:
                labels[i] = label
                changed += 1
        if changed == 0:   # the same labels: the centres are their means
            break
    return centers


@njit(cache=True, nogil=True)
def plusplus(points, weights, nearest_squared, uniforms, first):
    """Greedy k-means++ (as _kmeans._kmeans_plusplus runs it in NumPy): one centre per row of uniforms,
    the best of its candidates, drawn with probability proportional to weight x nearest_squared (the
    squared distance to the nearest centre so far, updated in place). first >= 0 is a centre chosen
    already. Returns the indices of the chosen points."""
    n = points.shape[0]
    n_centers, trials = uniforms.shape
    chosen = np.empty(n_centers + (first >= 0), dtype=np.intp)
    count = 0
    if first >= 0:
        chosen[0] = first
        count = 1
    cumulative = np.empty(n)
    candidate_squared = np.empty((trials, n))
    row = 0
    while count < chosen.shape[0]:
        total = 0.0
        for i in range(n):
            total += weights[i] * nearest_squared[i]
            cumulative[i] = total
        best, best_cost = 0, np.inf
        candidates = np.minimum(np.searchsorted(cumulative, uniforms[row] * total), n - 1)
        for t in range(trials):
            cost = 0.0
            for i in range(n):
                value = min(nearest_squared[i], _squared(points, i, points, candidates[t]))
                candidate_squared[t, i] = value
                cost += weights[i] * value
            if cost < best_cost:
                best, best_cost = t, cost
        chosen[count] = candidates[best]
        nearest_squared[:] = candidate_squared[best]
        count += 1
        row += 1
    return chosen
