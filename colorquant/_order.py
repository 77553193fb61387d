"""Palette order: entries whose pixels are neighbours get neighbouring indices, so the PNG compresses well."""

import numpy as np

from ._kmeans import _threadpools

_PATH_COLORS = 16          # up to 16 entries (4 bits or fewer per pixel): a greedy path; above: spectral
_ADJACENT_PAIRS = 1 << 21  # adjacent pixel pairs counted at most, in whole rows spread over the image
_COUNT_BLOCK = 1 << 20     # pixels counted per block: small temporary arrays on big images
# Swap rounds after the spectral order, at most: on the cases of benchmarks/png_size.py they stop after
# 9 to 18 rounds (5 to 25 ms of CPU time) and make the files 1 to 3 % smaller.
_SWAP_ROUNDS = 60


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
    with _threadpools().limit(limits=1):   # a 256 x 256 matrix: threads only add overhead (6 ms on one)
        key = np.linalg.eigh(laplacian)[1][:, 1]   # NumPy's: scipy's import alone took 0.3 s of a process
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
