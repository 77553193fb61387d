"""Checks for the exercises of color_compression.ipynb.

One pattern for every exercise: `@exercise(name, not_yet)` turns a function that returns the message
(or raises a Hint) into `check_<name>`, which PRINTS one message and returns None, so that the
notebook cell shows only that text. A message starts with "Not yet:" (the placeholder is still in
place), "Correct!" or "Not quite:" followed by a hint that names the mistake. A check never raises
for a learner's mistake: an exception raised by the learner's code is reported as a hint. The test
data are seeded and the messages hold no timings or addresses, so the output is deterministic.
Answers are accepted however they are written: as lists, scaled by 1/255, with any distance formula,
as a scan or a bisection, and for 8-bit, 16-bit or float images.
"""
import contextlib
import dis
import functools
import itertools
import math
import textwrap
import warnings
from unittest import mock

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import pairwise_distances_argmin

from colorquant import compress_image, png_bytes, psnr

SAMPLE_K = 8                     # clusters asked of fit_sample_predict (small, so the check is fast)
SAMPLE_SHARE = (0.005, 0.02)     # accepted sample size: 0.5% to 2% of the rows of X
MIN_AGREEMENT = 0.999            # share of labels that must be the nearest fitted center (ties aside)
MAX_K = 64                       # smallest_k looks for k from 1 to MAX_K
TARGETS_DB = (8.0, 18.0, 60.0)   # targets for smallest_k: k = 1 suffices, a middle k, out of reach
BUDGET_K = 256                   # largest_k_within looks for k from 1 to BUDGET_K
BUDGETS = (60, 400, 700)         # byte budgets for largest_k_within: below any PNG, two middle ones
PLACEHOLDER_OPS = frozenset({"RESUME", "NOP", "CACHE", "LOAD_CONST", "RETURN_VALUE", "RETURN_CONST"})
NOT_YET = {}                     # the "Not yet" message of each exercise, filled in by @exercise


class Hint(Exception):
    """A message for the learner that ends a check early."""


def exercise(name, not_yet):
    """Decorator: make check_<name> from a function that returns a message or raises a Hint."""
    NOT_YET[name] = not_yet

    def make_check(message):
        def check(*args, **kwargs):
            try:
                text = message(*args, **kwargs)
            except Hint as hint:
                text = str(hint)
            except Exception as error:  # noqa: BLE001 - a result so unusual that the check tripped over it
                text = f"Not quite: the check could not use your result ({describe(error)})."
            # Wrapped at spaces: a long line would be broken mid-word by a narrow notebook output area.
            print("\n".join(textwrap.fill(line, 100, break_long_words=False) for line in text.splitlines()))

        check.__name__ = check.__qualname__ = f"check_{name}"
        check.__doc__ = message.__doc__
        return check
    return make_check


# --- shared helpers ---------------------------------------------------------------------------------

def describe(error):
    """The type and message of an exception, shortened to one readable line."""
    text = " ".join(str(error).split())[:300]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def is_placeholder(function):
    """True if the function's body does nothing (only `...`, `pass` or a docstring), like the placeholder."""
    code = getattr(function, "__code__", None)
    return code is not None and all(op.opname in PLACEHOLDER_OPS for op in dis.get_instructions(code))


def call_learner(function, name, *args, **kwargs):
    """Call the learner's function; raise a Hint if it is still the placeholder, fails or returns None."""
    if not callable(function):
        raise Hint(f"Not quite: pass your function itself, as in check_{name}({name}), "
                   f"not a {type(function).__name__}.")
    try:
        # NumPy's RuntimeWarnings (the mean of an empty slice, 0 / 0) are left out: the hint names the mistake
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            result = function(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - any error of the learner's code becomes a hint
        raise Hint(f"Not quite: {name} raised {describe(error)}") from None
    if result is None and is_placeholder(function):
        raise Hint(NOT_YET[name])
    return result


def as_numbers(result, name, what="a NumPy array"):
    """The learner's result as a NumPy array of numbers (lists welcome), or a Hint saying why not."""
    if result is None:
        raise Hint(f"Not quite: {name} returned None. Did you forget the return statement?")
    try:
        array = np.asarray(result)
    except Exception as error:  # noqa: BLE001 - whatever the learner returned
        raise Hint(f"Not quite: {name} should return {what}; yours cannot be turned into one "
                   f"({describe(error)}).") from None
    if array.dtype.kind not in "iuf":
        raise Hint(f"Not quite: {name} should return {what} of numbers, not of {array.dtype} values.")
    return array


def on_pixel_scale(values, expected):
    """values, times 255 if the learner worked on pixels scaled by 1/255 (and that fits expected)."""
    values = np.asarray(values, dtype=float)
    if values.shape == expected.shape and not np.allclose(values, expected):
        return values * 255 if np.allclose(values * 255, expected) else values
    return values


def rounded(values, decimals=2):
    """Numbers as a plain Python list (or number) rounded for a message, e.g. [12.35, 200.0, 3.5]."""
    return np.round(np.asarray(values, dtype=float), decimals).tolist()


def shape_text(shape):
    """A shape written as in NumPy, e.g. (200,) or (200, 4)."""
    return str(tuple(int(n) for n in shape))


def squared_distances(X, centers):
    """The (N, k) squared Euclidean distances between the rows of X and of centers, in floats."""
    X, centers = np.asarray(X, dtype=float), np.asarray(centers, dtype=float)
    return ((X[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)


def clear_winner(X, centers, margin=1.0):
    """Mask of the rows of X whose nearest center beats the second by at least margin (no near tie)."""
    two = np.sort(squared_distances(X, centers), axis=1)[:, :2]
    return two[:, 1] - two[:, 0] >= margin


def blobs(seed, n=300, k=4):
    """n uint8 pixels in k seeded clumps of colour, as K-means sees in a photo."""
    rng = np.random.default_rng(seed)
    means = rng.uniform(40, 215, size=(k, 3))
    points = means[rng.integers(0, k, size=n)] + rng.normal(0, 18, size=(n, 3))
    return np.clip(np.rint(points), 0, 255).astype(np.uint8)


# --- exercise 1: the assignment step ----------------------------------------------------------------

def assignment_shape_hint(labels, n, k):
    """A hint for labels of the wrong shape, or None if the shape is (n,)."""
    hints = {(n, k): "you returned the table of distances. Take argmin over axis 1, the centers.",
             (k,): f"you returned one number per center (argmin over axis 0?). Return one per point ({n}).",
             (n, 3): "your result has a colour axis. Sum the squared differences over it, then argmin."}
    if labels.shape != (n,):
        hint = hints.get(labels.shape, f"the result should have shape ({n},), one index per row of X.")
        return f"Not quite: {hint} Yours has shape {shape_text(labels.shape)}."
    return None


def wraps_around(assign_points, X, centers, expected):
    """True if assign_points is right on float copies of X and centers, so uint8 arithmetic broke it."""
    if X.dtype != np.uint8:
        return False
    try:
        labels = np.asarray(assign_points(X.astype(float), np.asarray(centers, dtype=float)))
    except Exception:  # noqa: BLE001 - the learner's code failing on floats: not the wrap-around
        return False
    return labels.shape == expected.shape and np.array_equal(labels, expected)


@exercise("assign_points", "Not yet: write the body of assign_points (under its docstring), "
                           "then run this cell again.")
def check_assign_points(assign_points):
    """Print whether assign_points(X, centers) returns the index of the nearest center of every row of X."""
    rng = np.random.default_rng(1)
    X = rng.integers(0, 256, size=(240, 3), dtype=np.uint8)
    for centers in (rng.uniform(0, 255, size=(4, 3)), X[rng.choice(len(X), size=4, replace=False)]):
        X_case = X[clear_winner(X, centers)][:200]
        labels = as_numbers(call_learner(assign_points, "assign_points", X_case.copy(), centers.copy()),
                            "assign_points")
        n, k = len(X_case), len(centers)
        hint = assignment_shape_hint(labels, n, k)
        if hint:
            return hint
        distances = squared_distances(X_case, centers)
        expected = distances.argmin(axis=1)
        if np.array_equal(labels, expected):
            continue
        if np.any(labels != np.round(labels)) or labels.min() < 0 or labels.max() >= k:
            return f"Not quite: each label should be the index of a center, a whole number from 0 to {k - 1}."
        if np.array_equal(labels, distances.argmax(axis=1)):
            return "Not quite: you picked the farthest center for each point. Use argmin, not argmax."
        if centers.dtype == np.uint8 and wraps_around(assign_points, X_case, centers, expected):
            return ("Not quite: with uint8 pixels and uint8 centers (K-means starts from pixels), "
                    "X - centers wraps around: in uint8, 3 - 5 gives 254, and squaring wraps again. Your "
                    "labels are right when the same values come as floats: convert first, X.astype(float).")
        i = int(np.flatnonzero(labels != expected)[0])
        return (f"Not quite: {np.sum(labels != expected)} of {n} labels are wrong. The first is row {i}: "
                f"X[{i}] = {X_case[i].tolist()} is nearest to centers[{expected[i]}] = "
                f"{rounded(centers[expected[i]], 1)}, but you returned {labels[i]}.")
    return "Correct! Every point gets the index of its nearest center."


# --- exercise 2: the update step --------------------------------------------------------------------

def cluster_statistic(X, labels, centers, statistic):
    """Row j: statistic(points with label j, axis=0), e.g. np.mean, or centers[j] if there are none."""
    return np.array([statistic(X[labels == j], axis=0) if np.any(labels == j) else centers[j]
                     for j in range(len(centers))], dtype=float)


def update_cases():
    """Two seeded (X, labels, centers) cases: every cluster has points; cluster 2 has none."""
    rng = np.random.default_rng(2)
    X, k = rng.integers(0, 256, size=(300, 3), dtype=np.uint8), 5
    full = rng.permutation(np.repeat(np.arange(k), [25, 40, 70, 100, 65]))
    empty = np.where(full == 2, 4, full)                  # nobody keeps label 2
    centers = rng.uniform(30, 225, size=(k, 3))
    return [(X, full, centers), (X, empty, centers)]


UPDATE_MISTAKES = {
    "every row is the mean of all of X; row j should average only X[labels == j].":
        lambda X, labels, centers: np.tile(X.mean(axis=0), (len(centers), 1)),
    "these are medians. K-means moves each center to the mean of its points.":
        lambda X, labels, centers: cluster_statistic(X, labels, centers, np.median),
    "these are sums. Divide by the number of points in each cluster, or use mean.":
        lambda X, labels, centers: cluster_statistic(X, labels, centers, np.sum),
    "your means are rounded to whole numbers. Keep them as floats; rounding comes at the very end.":
        lambda X, labels, centers: np.rint(cluster_statistic(X, labels, centers, np.mean)),
    "your means are truncated to whole numbers. Keep them as floats; rounding comes at the very end.":
        lambda X, labels, centers: np.floor(cluster_statistic(X, labels, centers, np.mean)),
    "you returned the centers unchanged. Compute the mean of the points of each label.":
        lambda X, labels, centers: centers,
}


@exercise("update_centers", "Not yet: write the body of update_centers (under its docstring), "
                            "then run this cell again.")
def check_update_centers(update_centers):
    """Print whether update_centers(X, labels, centers) moves each center to the mean of its points and
    keeps the center of a cluster without points."""
    for X, labels, old in update_cases():
        k = len(old)
        result = call_learner(update_centers, "update_centers", X.copy(), labels.copy(), old.copy())
        centers = as_numbers(result, "update_centers")
        shape_hints = {(3,): f"you returned one colour; return {k} rows, one mean per label.",
                       (k,): "you returned one number per cluster; each row needs 3: X[labels == j].mean(0).",
                       (3, k): f"rows and columns are swapped: return shape ({k}, 3), one row per cluster.",
                       (len(X), 3): f"you returned one row per point; return one row per cluster ({k} rows).",
                       (k - 1, 3): f"you returned {k - 1} rows: keep a row for the cluster without points."}
        if centers.shape != (k, 3):
            hint = shape_hints.get(centers.shape, f"the result should have shape ({k}, 3), like centers.")
            return f"Not quite: {hint} Yours has shape {shape_text(centers.shape)}."
        expected = cluster_statistic(X, labels, old, np.mean)
        centers = on_pixel_scale(centers, expected)
        if np.allclose(centers, expected):
            continue
        empty = [j for j in range(k) if not np.any(labels == j)]
        if empty and np.allclose(np.delete(centers, empty, axis=0), np.delete(expected, empty, axis=0)):
            j = empty[0]
            got = "NaN, the mean of no points" if np.isnan(centers[j]).any() else rounded(centers[j])
            return (f"Not quite: cluster {j} has no points, and you returned {got} for it. A cluster without "
                    f"points keeps its previous center: centers[{j}] = {rounded(old[j])}.")
        if np.isnan(centers).any():
            return ("Not quite: your result contains NaN, the mean of no points. "
                    "X[labels == j] selects label j.")
        for hint, mistake in UPDATE_MISTAKES.items():
            if np.allclose(centers, mistake(X, labels, old)):
                return "Not quite: " + hint
        if np.allclose(np.sort(centers, axis=0), np.sort(expected, axis=0)):
            return ("Not quite: your rows are the right means in the wrong order. "
                    "Row j is the mean of label j.")
        j = int(np.flatnonzero(~np.all(np.isclose(centers, expected), axis=1))[0])
        return (f"Not quite: row {j} should be the mean of the points with label {j}, "
                f"{rounded(expected[j])}, but you returned {rounded(centers[j])}.")
    return "Correct! Each center moves to the mean of its points, and a center without points stays put."


# --- exercise 3: Lloyd's loop -----------------------------------------------------------------------

def kmeans_cases():
    """Seeded (X, start) pairs where no cluster empties, and one (a repeated center) where one does."""
    cases = []
    for seed in (3, 4):
        X = blobs(seed)
        cases.append((X, X[np.random.default_rng(seed).choice(len(X), size=4, replace=False)].astype(float)))
    X = blobs(5)
    return cases, (X, np.array([X[0], X[1], X[2], X[1]], dtype=float))   # center 3 repeats center 1


def lloyd(X, centers, max_iter=100):
    """Lloyd's loop from centers, a cluster without points keeping its center: the reference for kmeans.
    Returns (centers, labels of those centers, labels of the assignment before the last update)."""
    centers = np.array(centers, dtype=float)
    labels = squared_distances(X, centers).argmin(axis=1)
    previous = labels
    for _ in range(max_iter):
        centers = cluster_statistic(X, labels, centers, np.mean)
        previous, labels = labels, squared_distances(X, centers).argmin(axis=1)
        if np.array_equal(previous, labels):
            break
    return centers, labels, previous


def lloyd_result(result, name="kmeans"):
    """The learner's (centers, labels) as arrays, or a Hint."""
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise Hint(f"Not quite: {name} should return two things, (centers, labels); "
                   f"yours returned {'None' if result is None else 'a ' + type(result).__name__}.")
    return as_numbers(result[0], name + "'s centers"), as_numbers(result[1], name + "'s labels")


def kmeans_hint(X, start, max_iter, centers, labels):
    """A hint for a loop whose result differs from scikit-learn's from the same start, or None."""
    sk = KMeans(len(start), init=start, n_init=1, tol=0, max_iter=max_iter).fit(X.astype(float))
    if centers.shape != (len(start), 3) or labels.shape != (len(X),):
        return (f"Not quite: for {len(X)} points and {len(start)} centers, return centers of shape "
                f"({len(start)}, 3) and labels of shape ({len(X)},); yours have shapes "
                f"{shape_text(centers.shape)} and {shape_text(labels.shape)}.")
    centers = on_pixel_scale(centers, sk.cluster_centers_)
    clear = clear_winner(X, sk.cluster_centers_, 1e-6)
    right_centers = np.allclose(centers, sk.cluster_centers_, rtol=0, atol=1e-6)
    if right_centers and np.array_equal(labels[clear], sk.labels_[clear]):
        return None
    previous = lloyd(X, start, max_iter)[2]
    if right_centers and np.array_equal(labels, previous):
        return ("Not quite: your centers are right, but your labels are those of the assignment before the "
                "last update, not of the centers you return. Assign once more after the last update.")
    if right_centers:
        return ("Not quite: your centers are right but the labels are not those of the final centers. "
                "Return the labels of an assignment to the centers you return.")
    if max_iter == 2:
        return ("Not quite: with max_iter=2 your loop should stop after 2 update steps, as scikit-learn "
                "does; count the updates and stop at max_iter even if labels still change.")
    if np.allclose(centers, start):
        return "Not quite: your centers are still the start. Repeat the update step inside the loop."
    return (f"Not quite: from the same start, scikit-learn stops after {sk.n_iter_} iterations with "
            f"centers[0] = {rounded(sk.cluster_centers_[0])}; yours is {rounded(centers[0])}. "
            "Loop until no label changes: assignment, update, assignment again.")


@exercise("kmeans", "Not yet: write the body of kmeans (under its docstring), then run this cell again.")
def check_kmeans(kmeans):
    """Print whether kmeans(X, initial_centers, max_iter) runs Lloyd's loop as scikit-learn does."""
    cases, (X_empty, start_empty) = kmeans_cases()
    for max_iter, (X, start) in itertools.product((100, 2), cases):   # full runs first
        result = call_learner(kmeans, "kmeans", X.copy(), start.copy(), max_iter=max_iter)
        hint = kmeans_hint(X, start, max_iter, *lloyd_result(result))
        if hint:
            return hint
    centers, _ = lloyd_result(call_learner(kmeans, "kmeans", X_empty.copy(), start_empty.copy()))
    expected = lloyd(X_empty, start_empty)[0]
    if centers.shape != expected.shape or not np.allclose(on_pixel_scale(centers, expected), expected):
        return ("Not quite: center 3 starts on center 1, so ties give cluster 3 no points at first. "
                f"You returned {len(centers)} centers{' with NaN' * bool(np.isnan(centers).any())}: "
                "keep cluster 3's previous center while it has no points, so that there are always k.")
    return "Correct! Your loop matches scikit-learn, and a cluster that empties keeps its center."


# --- exercise 4: fit on a 1% sample, then predict every pixel -------------------------------------------

@contextlib.contextmanager
def recorded_kmeans_fits():
    """Within the block, record (data, estimator) for every call of KMeans.fit, in the list yielded."""
    fits, original_fit = [], KMeans.fit

    def recording_fit(self, X, *args, **kwargs):
        fits.append((np.asarray(X), self))
        return original_fit(self, X, *args, **kwargs)

    with mock.patch.object(KMeans, "fit", recording_fit):
        yield fits


@exercise("fit_sample_predict", "Not yet: write the body of fit_sample_predict (under its docstring), "
                                "then run this cell again.")
def check_fit_sample_predict(fit_sample_predict, X, seed=0):
    """Print whether fit_sample_predict(X, k, seed) fits KMeans on a random 1% of X and labels every row."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise Hint(f"Not quite: pass X, the (N, 3) array of pixels, to the check, not {shape_text(X.shape)}.")
    with recorded_kmeans_fits() as fits:   # watch KMeans.fit to see the learner's model
        labels = call_learner(fit_sample_predict, "fit_sample_predict", X.copy(), SAMPLE_K, seed)
    if not fits:
        return "Not quite: no KMeans model was fitted. Use KMeans(n_clusters=k, n_init=1, random_state=seed)."
    n, (sample, model) = len(X), fits[-1]
    scale = 255.0 if sample.max() <= 1 < X.max() else 1.0    # fitted on pixels scaled by 1/255
    if len(sample) == n and len(fits) > 1 and len(fits[-2][0]) < n:
        return ("Not quite: you fitted on a sample, then fit_predict(X) fitted a new model on all rows. "
                "fit_predict refits; call predict(X) on the model fitted on the sample.")
    low, high = (math.ceil(share * n) for share in SAMPLE_SHARE)
    if len(sample) == n:
        return (f"Not quite: KMeans was fitted on all {n:,} rows of X. Fit it on a random sample "
                f"of about 1% of the rows ({n // 100:,}), then predict the label of every row.")
    if not low <= len(sample) <= high:
        return (f"Not quite: KMeans was fitted on {len(sample):,} rows ({len(sample) / n:.1%} of X). "
                f"The sample should be about 1% of the rows: {n // 100:,} of {n:,}.")
    if np.allclose(sample * scale, X[:len(sample)]):
        return ("Not quite: your sample is the first rows of X, the top of the photo. "
                "Pick the rows at random, e.g. with np.random.default_rng(seed).choice.")
    if model.n_clusters != SAMPLE_K:
        return f"Not quite: the model has n_clusters={model.n_clusters}; it should have k = {SAMPLE_K}."
    labels = as_numbers(labels, "fit_sample_predict")
    if labels.shape != (n,):
        return (f"Not quite: the result should have shape ({n},), one label per row of X, not "
                f"{shape_text(labels.shape)}." + (" Those are the sample's labels: call predict on all of X."
                                                   if len(labels) == len(sample) else ""))
    agreement = np.mean(labels == pairwise_distances_argmin(X, model.cluster_centers_ * scale))
    if agreement < MIN_AGREEMENT:
        return (f"Not quite: only {agreement:.1%} of your labels are the nearest center of the model fitted "
                "on the sample. Return model.predict(X) for that model.")
    return (f"Correct! The model was fitted on {len(sample):,} of {n:,} pixels "
            f"({len(sample) / n:.1%}) and labelled them all.")


# --- exercise 5: the smallest k that reaches a quality --------------------------------------------------

def test_image():
    """A seeded 64 x 48 test image (smooth gradients plus noise), small so that the check is fast."""
    rng = np.random.default_rng(6)
    y, x = np.mgrid[0:48, 0:64]
    base = np.stack([255 * x / 64, 255 * y / 48, 128 + 100 * np.sin(x / 5.0)], axis=-1)
    return np.clip(base + rng.normal(0, 10, base.shape), 0, 255).astype(np.uint8)


def as_given(image, form):
    """The test image as a learner's image may come: 8-bit, 16-bit (values times 257) or floats in [0, 1]."""
    return {"uint8": image, "uint16": image.astype(np.uint16) * 257, "float": image / 255.0}[form]


@functools.lru_cache(maxsize=512)
def quality(k, seed):
    """PSNR in dB of compress_image(test_image(), k, seed=seed) against the test image (remembered)."""
    return psnr(test_image(), np.asarray(compress_image(test_image(), k, seed=seed).convert("RGB")))


def whole_number(value):
    """True for an int (NumPy's too), not for a bool or a float."""
    return not isinstance(value, bool) and isinstance(value, (int, np.integer))


@exercise("smallest_k", "Not yet: write the body of smallest_k (under its docstring), "
                        "then run this cell again.")
def check_smallest_k(smallest_k, seed=0):
    """Print whether smallest_k(image, target_db, seed) gives a k reaching the target while k - 1 does not."""
    for target, form in zip(TARGETS_DB, ("uint8", "float", "uint16"), strict=True):
        k = call_learner(smallest_k, "smallest_k", as_given(test_image(), form), target, seed=seed)
        if k is None:
            if quality(MAX_K, seed) < target:
                continue
            return (f"Not quite: for {target:g} dB you returned None, but k = {MAX_K} reaches "
                    f"{quality(MAX_K, seed):.2f} dB. Return None only if even k = {MAX_K} falls short.")
        if whole_number(k) and k == 0 and quality(1, seed) >= target:
            return (f"Not quite: for {target:g} dB you returned 0, one too small: k counts colours from 1, "
                    f"and k = 1 already reaches {quality(1, seed):.2f} dB.")
        if not whole_number(k) or not 1 <= k <= MAX_K:
            return f"Not quite: for {target:g} dB you returned {k!r}; return a k from 1 to {MAX_K}, or None."
        reached = quality(k, seed)
        if reached < target and k < MAX_K and quality(k + 1, seed) >= target:
            return (f"Not quite: for {target:g} dB you returned k = {k}, one too small: it reaches only "
                    f"{reached:.2f} dB, and k = {k + 1} is the first to reach the target.")
        if reached < target:
            return (f"Not quite: for {target:g} dB you returned k = {k}, but compress_image with {k} colours "
                    f"reaches only {reached:.2f} dB. Compare psnr(image, compressed) with target_db.")
        if k > 1 and quality(k - 1, seed) >= target:
            one_more = " one too large:" if k == 2 or quality(k - 2, seed) < target else ""
            return (f"Not quite: for {target:g} dB you returned k = {k},{one_more} k = {k - 1} already "
                    f"reaches {quality(k - 1, seed):.2f} dB. Return a k that reaches it while k - 1 "
                    "does not.")
    return "Correct! Each k reaches its target and k - 1 does not (or no k up to 64 does, and you said None)."


# --- exercise 6: the most colours within a file size --------------------------------------------------------

@functools.lru_cache(maxsize=512)
def png_size(k, seed):
    """Bytes of png_bytes(compress_image(test_image(), k, seed=seed)) (remembered)."""
    return len(png_bytes(compress_image(test_image(), k, seed=seed)))


def fits_budget(k, budget, seed):
    """True if k's PNG is within budget while k + 1's is not (or k is the largest allowed)."""
    return png_size(k, seed) <= budget and (k == BUDGET_K or png_size(k + 1, seed) > budget)


@exercise("largest_k_within", "Not yet: write the body of largest_k_within (under its docstring), "
                              "then run this cell again.")
def check_largest_k_within(largest_k_within, seed=0):
    """Print whether largest_k_within(image, max_bytes, seed) gives a k whose PNG fits in max_bytes while
    k + 1's does not (or k = 256), or None when even k = 1 is too large."""
    for budget, form in zip(BUDGETS, ("uint8", "float", "uint16"), strict=True):
        image = as_given(test_image(), form)
        k = call_learner(largest_k_within, "largest_k_within", image, budget, seed=seed)
        if k is None:
            if png_size(1, seed) > budget:
                continue
            return (f"Not quite: for {budget} bytes you returned None, but k = 1 gives a PNG of "
                    f"{png_size(1, seed)} bytes. Return None only if even k = 1 is over the budget.")
        if png_size(1, seed) > budget:
            return (f"Not quite: for {budget} bytes you returned {k!r}, but even k = 1 gives "
                    f"{png_size(1, seed)} bytes: return None when nothing fits.")
        if whole_number(k) and k == 0:
            return (f"Not quite: for {budget} bytes you returned 0: k counts colours from 1, and k = 1's "
                    f"PNG ({png_size(1, seed)} bytes) fits. Did you return the k before the first one tried?")
        if not whole_number(k) or not 1 <= k <= BUDGET_K:
            return (f"Not quite: for {budget} bytes you returned {k!r}; return a k from 1 to {BUDGET_K} "
                    "(a whole number, not the size), or None.")
        if png_size(k, seed) > budget:
            one_less = " one too large:" if png_size(k - 1, seed) <= budget else ""
            return (f"Not quite: for {budget} bytes you returned k = {k},{one_less} its PNG is "
                    f"{png_size(k, seed)} bytes, over the budget. "
                    "Measure len(png_bytes(compress_image(image, k, seed=seed))).")
        if not fits_budget(k, budget, seed):
            one_more = " one too small:" if fits_budget(k + 1, budget, seed) else ""
            return (f"Not quite: for {budget} bytes you returned k = {k},{one_more} k = {k + 1}'s PNG is "
                    f"{png_size(k + 1, seed)} bytes and fits too. Return a k whose PNG fits while k + 1's "
                    "does not.")
    return ("Correct! Each k's PNG fits in its budget while k + 1's does not, and you said None when even "
            "k = 1 is too large.")
