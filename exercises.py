"""Checks for the exercises of color_compression.ipynb.

Each check_... function runs the learner's function (or looks at the learner's result), PRINTS one
message and returns None, so that the notebook cell shows only that text. A message starts with
"Not yet:" (the placeholder is still in place), "Correct!" or "Not quite:" followed by a hint.
A check never raises for a learner's mistake: an exception raised by the learner's code is reported
as a hint. The test data are seeded and the messages hold no timings or addresses, so the output is
deterministic.
"""
import contextlib
import dis
import math
import os
from unittest import mock

import numpy as np
from PIL import Image, ImageOps
from sklearn.cluster import KMeans
from sklearn.metrics import pairwise_distances_argmin

from colorquant import nearest, psnr

SAMPLE_K = 8                     # clusters asked of fit_sample_predict (small, so the check is fast)
SAMPLE_SHARE = (0.005, 0.02)     # accepted sample size: 0.5% to 2% of the rows of X
MIN_AGREEMENT = 0.999            # share of labels that must be the nearest fitted center (ties aside)
RANDOM_PALETTE_SEEDS = 5         # random palettes averaged for the reference PSNR of exercise 4
MAX_PSNR_PIXELS = 200_000        # exercise 4 measures PSNR on a seeded sample of at most this many pixels
PLACEHOLDER_OPS = frozenset({"RESUME", "NOP", "CACHE", "LOAD_CONST", "RETURN_VALUE", "RETURN_CONST"})

NOT_YET = {
    "assign_points": "Not yet: write the body of assign_points (under its docstring), "
                     "then run this cell again.",
    "update_centers": "Not yet: write the body of update_centers (under its docstring), "
                      "then run this cell again.",
    "fit_sample_predict": "Not yet: write the body of fit_sample_predict (under its docstring), "
                          "then run this cell again.",
    "own_photo": "Not yet: set my_photo to the path of a photo of yours and my_result to "
                 "compress_image(my_photo, my_k), then run this cell again.",
}


class Hint(Exception):
    """A message for the learner that ends a check early."""


# --- shared helpers ---------------------------------------------------------------------------------

def report(diagnose, *args):
    """Print the message diagnose(*args) returns or raises as a Hint; never raise."""
    try:
        message = diagnose(*args)
    except Hint as hint:
        message = str(hint)
    except Exception as error:  # noqa: BLE001 - a result so unusual that the check itself tripped over it
        message = f"Not quite: the check could not use your result ({describe(error)})."
    print(message)


def describe(error):
    """The type and message of an exception, shortened to one readable line."""
    text = " ".join(str(error).split())
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def is_placeholder(function):
    """True if the function's body does nothing (only `...`, `pass` or a docstring), like the placeholder."""
    code = getattr(function, "__code__", None)
    return code is not None and all(op.opname in PLACEHOLDER_OPS for op in dis.get_instructions(code))


def call_learner(function, name, *args):
    """Call the learner's function; raise a Hint if it is still the placeholder, fails or returns None."""
    if not callable(function):
        raise Hint(f"Not quite: pass your function itself, as in check_{name}({name}); "
                   f"you passed a {type(function).__name__}.")
    try:
        result = function(*args)
    except Exception as error:  # noqa: BLE001 - any error of the learner's code becomes a hint
        raise Hint(f"Not quite: {name} raised {describe(error)}") from None
    if result is None:
        if is_placeholder(function):
            raise Hint(NOT_YET[name])
        raise Hint(f"Not quite: {name} returned None. Did you forget the return statement?")
    return result


def as_number_array(result, name):
    """The learner's result as a NumPy array of numbers, or a Hint saying why it is not one."""
    try:
        array = np.asarray(result)
    except Exception as error:  # noqa: BLE001 - whatever the learner returned
        raise Hint(f"Not quite: {name} should return a NumPy array, and yours cannot be turned into one "
                   f"({describe(error)}).") from None
    if array.dtype.kind not in "iuf":
        if isinstance(result, np.ndarray):
            kind = f"an array of dtype {array.dtype}"
        else:
            kind = f"a {type(result).__name__}"
        raise Hint(f"Not quite: {name} should return a NumPy array of numbers, but it returned {kind}.")
    return array


def rounded(values, decimals=2):
    """Numbers as a plain Python list (or number) rounded for a message, e.g. [12.35, 200.0, 3.5]."""
    return np.round(np.asarray(values, dtype=float), decimals).tolist()


def counted(n, noun):
    """n and the noun, plural unless n is 1, e.g. "1 colour" or "1,590 colours"."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def shape_text(shape):
    """A shape written as in NumPy, e.g. (200,) or (200, 4)."""
    return str(tuple(int(n) for n in shape))


# --- exercise 1: the assignment step ----------------------------------------------------------------

def nearest_centers(X, centers):
    """The index of the nearest center for each row of X, computed in floats."""
    return squared_distances(X, centers).argmin(axis=1)


def squared_distances(X, centers):
    """The (N, k) squared Euclidean distances between the rows of X and of centers, in floats."""
    return ((X[:, None, :].astype(float) - np.asarray(centers, dtype=float)[None, :, :]) ** 2).sum(axis=2)


def without_near_ties(X, centers, size):
    """The first `size` rows of X whose nearest center is nearer than the second by at least 1."""
    two_smallest = np.sort(squared_distances(X, centers), axis=1)[:, :2]
    return X[two_smallest[:, 1] - two_smallest[:, 0] >= 1][:size]


def assignment_cases():
    """Two seeded test cases (X, centers) for assign_points, X being 200 uint8 pixels.

    First with float centers (as K-means has after an update step), then with 4 of the pixels as
    centers (uint8, as K-means starts), where subtracting without converting to float wraps around.
    """
    rng = np.random.default_rng(1)
    X = rng.integers(0, 256, size=(240, 3), dtype=np.uint8)
    float_centers = rng.uniform(0, 255, size=(4, 3))
    pixel_centers = X[rng.choice(len(X), size=4, replace=False)]
    return [(without_near_ties(X, centers, 200), centers) for centers in (float_centers, pixel_centers)]


def uint8_wraparound_answers(X, centers):
    """The labels a learner gets who subtracts uint8 arrays without converting (squares in uint8 or not)."""
    differences = X[:, None, :] - centers[None, :, :]           # wraps around: 0 - 1 gives 255
    return [(differences ** 2).sum(axis=2).argmin(axis=1),       # square wraps around too
            (differences.astype(float) ** 2).sum(axis=2).argmin(axis=1)]


def assignment_shape_hint(labels, X, centers):
    """A hint for labels of the wrong shape, or None if the shape is (N,)."""
    n, k = len(X), len(centers)
    if labels.shape == (n,):
        return None
    if labels.shape == (n, k):
        return (f"Not quite: you returned the {shape_text(labels.shape)} table of distances. "
                "Take argmin over axis 1 to get, for each point, the index of its nearest center.")
    if labels.shape == (k,):
        return (f"Not quite: you returned {k} numbers, one per center, probably from argmin over axis 0. "
                f"Take argmin over axis 1 to get one index per point ({n} of them).")
    if labels.shape == (n, 3) and np.allclose(labels, centers[nearest_centers(X, centers)]):
        return "Not quite: you returned the colours of the nearest centers. Return their indices instead."
    if labels.shape in ((n, 3), (n, k, 3)):
        return ("Not quite: your distances still have a colour axis. Sum the squared differences over "
                "the last axis (axis=2) before taking argmin over the centers (axis=1).")
    if labels.ndim == 0:
        return ("Not quite: you returned a single number. argmin without an axis looks at the whole array; "
                "use argmin(axis=1) to get one index per point.")
    return (f"Not quite: the result should have shape ({n},), one index per row of X, "
            f"but yours has shape {shape_text(labels.shape)}.")


def assignment_hint(labels, X, centers):
    """None if labels are the nearest centers of the rows of X, else a hint saying what is wrong."""
    labels = as_number_array(labels, "assign_points")
    shape_hint = assignment_shape_hint(labels, X, centers)
    if shape_hint:
        return shape_hint
    expected = nearest_centers(X, centers)
    if np.array_equal(labels, expected):
        return None
    k = len(centers)
    if np.any(labels != np.round(labels)) or labels.min() < 0 or labels.max() >= k:
        return f"Not quite: each label should be the index of a center, a whole number from 0 to {k - 1}."
    if np.array_equal(labels, squared_distances(X, centers).argmax(axis=1)):
        return "Not quite: you picked the farthest center for each point. Use argmin, not argmax."
    if centers.dtype == np.uint8 and any(np.array_equal(labels, wrong)
                                         for wrong in uint8_wraparound_answers(X, centers)):
        return ("Not quite: with uint8 pixels as centers (as K-means starts), X - centers wraps around "
                "(in uint8, 0 - 1 gives 255). Convert X to float before subtracting: X.astype(float).")
    wrong = np.flatnonzero(labels != expected)
    i = int(wrong[0])
    j = int(expected[i])
    return (f"Not quite: {len(wrong)} of {len(X)} labels are wrong. The first is row {i}: "
            f"X[{i}] = {X[i].tolist()} is nearest to centers[{j}] = {rounded(centers[j], 1)}, "
            f"but you returned {labels[i]}.")


def assign_points_message(assign_points):
    """The message for check_assign_points."""
    for X, centers in assignment_cases():
        labels = call_learner(assign_points, "assign_points", X.copy(), centers.copy())
        hint = assignment_hint(labels, X, centers)
        if hint:
            return hint
    return "Correct! Every point gets the index of its nearest center."


def check_assign_points(assign_points):
    """Print whether assign_points(X, centers) returns the index of the nearest center of every row of X."""
    report(assign_points_message, assign_points)


# --- exercise 2: the update step --------------------------------------------------------------------

def update_case():
    """A seeded test case (X, labels, k): 300 uint8 pixels in 5 clusters of different sizes."""
    rng = np.random.default_rng(2)
    X = rng.integers(0, 256, size=(300, 3), dtype=np.uint8)
    labels = rng.permutation(np.repeat(np.arange(5), [25, 40, 70, 100, 65]))
    return X, labels, 5


def cluster_statistic(X, labels, k, statistic):
    """A (k, 3) array: row j is statistic(points with label j, axis=0), e.g. np.mean or np.median."""
    return np.array([statistic(X[labels == j], axis=0) for j in range(k)])


def same_rows_in_another_order(result, expected):
    """True if result holds the rows of expected, each once, in a different order."""
    matches = [np.flatnonzero(np.all(np.isclose(expected, row), axis=1)) for row in result]
    return all(len(m) == 1 for m in matches) and len({int(m[0]) for m in matches}) == len(expected)


def update_shape_hint(centers, X, k):
    """A hint for centers of the wrong shape, or None if the shape is (k, 3)."""
    if centers.shape == (k, 3):
        return None
    if centers.shape == (3,):
        return (f"Not quite: you returned one colour; return {k} rows, "
                "row j being the mean of the points whose label is j.")
    if centers.shape == (k,):
        return ("Not quite: you returned one number per cluster; each row needs 3 numbers "
                "(red, green, blue). Take the mean over axis 0 of the points of cluster j: "
                "X[labels == j].mean(axis=0).")
    if centers.shape == (3, k):
        return (f"Not quite: rows and columns are swapped: the result should have shape ({k}, 3), "
                f"one row per cluster, and yours has shape (3, {k}).")
    if centers.shape == (len(X), 3):
        return (f"Not quite: you returned one row per point ({len(X)} rows); "
                f"return one row per cluster ({k} rows).")
    return (f"Not quite: the result should have shape ({k}, 3), one row per cluster, "
            f"but yours has shape {shape_text(centers.shape)}.")


def update_hint(centers, X, labels, k):
    """None if row j of centers is the mean of the points with label j, else a hint saying what is wrong."""
    centers = as_number_array(centers, "update_centers")
    shape_hint = update_shape_hint(centers, X, k)
    if shape_hint:
        return shape_hint
    expected = cluster_statistic(X, labels, k, np.mean)
    if np.isnan(centers).any():
        return ("Not quite: your result contains NaN, the mean of no points. "
                "X[labels == j] should select the points whose label is j.")
    if np.allclose(centers, expected):
        return None
    if np.allclose(centers, X.mean(axis=0)):
        return ("Not quite: every row is the mean of all of X. Row j should average only "
                "the points whose label is j: X[labels == j].")
    if np.allclose(centers, cluster_statistic(X, labels, k, np.median)):
        return "Not quite: these are medians. K-means moves each center to the mean of its points."
    if np.allclose(centers, cluster_statistic(X, labels, k, np.sum)):
        return "Not quite: these are sums. Divide by the number of points in each cluster, or use mean."
    if np.allclose(centers, np.floor(expected)) or np.allclose(centers, np.rint(expected)):
        return ("Not quite: your means are rounded to whole numbers. "
                "Keep the means as floats; rounding comes later.")
    if same_rows_in_another_order(centers, expected):
        return ("Not quite: your rows are the right means in the wrong order. "
                "Row j must be the mean of the points with label j.")
    wrong = np.flatnonzero(~np.all(np.isclose(centers, expected), axis=1))
    j = int(wrong[0])
    return (f"Not quite: {len(wrong)} of {k} rows are wrong. The first is row {j}: the mean of the points "
            f"with label {j} is {rounded(expected[j])}, but you returned {rounded(centers[j])}.")


def update_centers_message(update_centers):
    """The message for check_update_centers."""
    X, labels, k = update_case()
    centers = call_learner(update_centers, "update_centers", X.copy(), labels.copy(), k)
    return update_hint(centers, X, labels, k) or "Correct! Each center moves to the mean of its points."


def check_update_centers(update_centers):
    """Print whether update_centers(X, labels, k) returns the mean of the points of each cluster."""
    report(update_centers_message, update_centers)


# --- exercise 3: fit on a 1% sample, then predict every pixel -------------------------------------------

@contextlib.contextmanager
def recorded_kmeans_fits():
    """Within the block, record (data, estimator) for every call of KMeans.fit, in the list yielded."""
    fits = []
    original_fit = KMeans.fit

    def recording_fit(self, X, *args, **kwargs):
        """Call the original KMeans.fit and record what was fitted."""
        fitted = original_fit(self, X, *args, **kwargs)
        fits.append((X, self))
        return fitted

    with mock.patch.object(KMeans, "fit", recording_fit):
        yield fits


def sample_hint(sample, model, X, k):
    """A hint if the last KMeans fit was not on about 1% of the rows of X with k clusters, else None."""
    n, n_sample = len(X), len(sample)
    low, high = (math.ceil(share * n) for share in SAMPLE_SHARE)
    if n_sample == n:
        return (f"Not quite: KMeans was fitted on all {n:,} rows of X. Fit it on a random sample "
                f"of about 1% of the rows ({n // 100:,}), then predict the label of every row.")
    if not low <= n_sample <= high:
        return (f"Not quite: KMeans was fitted on {counted(n_sample, 'row')} ({n_sample / n:.1%} of X). "
                f"The sample should be about 1% of the rows: {n // 100:,} of {n:,}.")
    if np.array_equal(np.asarray(sample), X[:n_sample]):
        return ("Not quite: your sample is the first rows of X, the top of the photo. "
                "Pick the rows at random, e.g. with np.random.default_rng(seed).choice.")
    if model.n_clusters != k:
        return f"Not quite: the model has n_clusters={model.n_clusters}; it should have k = {k} clusters."
    return None


def labels_hint(labels, model, n_sample, X):
    """A hint if labels are not, for every row of X, the nearest center of the fitted model; else None."""
    labels = as_number_array(labels, "fit_sample_predict")
    n = len(X)
    if labels.shape == (n_sample,):
        return (f"Not quite: you returned {n_sample:,} labels, those of the sample. "
                "Call predict on all of X to label every row.")
    if labels.shape != (n,):
        return (f"Not quite: the result should have shape ({n},), one label per row of X, "
                f"but yours has shape {shape_text(labels.shape)}.")
    agreement = np.mean(labels == pairwise_distances_argmin(X, model.cluster_centers_))
    if agreement < MIN_AGREEMENT:
        return (f"Not quite: only {agreement:.1%} of your labels are the nearest center of the fitted model. "
                "Return model.predict(X) for the model you fitted on the sample.")
    return None


def fit_sample_predict_message(fit_sample_predict, X, seed):
    """The message for check_fit_sample_predict."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise Hint(f"Not quite: pass X, the (N, 3) array of pixels, to the check; "
                   f"this has shape {shape_text(X.shape)}.")
    with recorded_kmeans_fits() as fits:
        labels = call_learner(fit_sample_predict, "fit_sample_predict", X.copy(), SAMPLE_K, seed)
    if not fits:
        return ("Not quite: no KMeans model was fitted. Use sklearn.cluster.KMeans: "
                "KMeans(n_clusters=k, n_init=1, random_state=seed).fit(sample).")
    sample, model = fits[-1]
    hint = sample_hint(sample, model, X, SAMPLE_K) or labels_hint(labels, model, len(sample), X)
    if hint:
        return hint
    return (f"Correct! The model was fitted on {len(sample):,} of {len(X):,} pixels "
            f"({len(sample) / len(X):.1%}) and labelled them all.")


def check_fit_sample_predict(fit_sample_predict, X, seed=0):
    """Print whether fit_sample_predict(X, k, seed) fits KMeans on a random 1% of X and labels every row."""
    report(fit_sample_predict_message, fit_sample_predict, X, seed)


# --- exercise 4: compress your own photo ------------------------------------------------------------

def read_photo(photo):
    """The photo as an (H, W, 3) uint8 RGB array, upright: from a path, a PIL image or a uint8 array."""
    if isinstance(photo, (str, os.PathLike)):
        try:
            with Image.open(photo) as opened:
                return np.asarray(ImageOps.exif_transpose(opened).convert("RGB"))
        except Exception as error:  # noqa: BLE001 - any reason the learner's file cannot be read
            raise Hint(f"Not quite: could not open my_photo ({describe(error)}).") from None
    if isinstance(photo, Image.Image):
        return np.asarray(ImageOps.exif_transpose(photo).convert("RGB"))
    if isinstance(photo, np.ndarray) and photo.dtype == np.uint8 and photo.ndim in (2, 3):
        return np.asarray(Image.fromarray(photo).convert("RGB"))
    raise Hint("Not quite: my_photo should be the path of a photo (e.g. \"my_photo.jpg\"), "
               f"a PIL image or a uint8 NumPy array; it is a {type(photo).__name__}.")


def random_palette_psnr(pixels, k):
    """Mean PSNR, over seeded tries, of mapping pixels (M, 3) to a palette of k of them picked at random."""
    scores = []
    for seed in range(RANDOM_PALETTE_SEEDS):
        rng = np.random.default_rng(seed)
        palette = pixels[rng.choice(len(pixels), size=min(k, len(pixels)), replace=False)]
        scores.append(psnr(pixels, palette[nearest(pixels, palette)]))
    return float(np.mean(scores))


def pixel_sample(original, compressed):
    """The same seeded sample of at most MAX_PSNR_PIXELS pixels from both (H, W, 3) arrays, as (M, 3)."""
    original, compressed = original.reshape(-1, 3), compressed.reshape(-1, 3)
    if len(original) <= MAX_PSNR_PIXELS:
        return original, compressed
    rows = np.random.default_rng(0).choice(len(original), size=MAX_PSNR_PIXELS, replace=False)
    return original[rows], compressed[rows]


def count_colors(rgb_image):
    """The number of distinct colours of an RGB PIL image."""
    return len(rgb_image.getcolors(rgb_image.width * rgb_image.height))


def not_yet_own_photo(result, photo):
    """The "Not yet" message while my_result or my_photo is still None, else None."""
    if result is None and photo is None:
        return NOT_YET["own_photo"]
    if result is None:
        return "Not yet: now set my_result = compress_image(my_photo, my_k), then run this cell again."
    if photo is None:
        return "Not yet: also set my_photo to the photo you compressed, so that the check can compare them."
    return None


def own_photo_message(result, photo, k):
    """The message for check_own_photo."""
    not_yet = not_yet_own_photo(result, photo)
    if not_yet:
        return not_yet
    if not isinstance(result, Image.Image):
        return (f"Not quite: my_result is a {type(result).__name__}, but compress_image returns a PIL image; "
                "did you pass something else?")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= 256:
        return f"Not quite: my_k should be a whole number from 1 to 256; it is {k!r}."
    original = read_photo(photo)
    height, width = original.shape[:2]
    if result.size != (width, height):
        return (f"Not quite: my_result is {result.width} x {result.height} pixels but the photo is "
                f"{width} x {height}. Compress the photo itself, not a resized copy.")
    rgb = result.convert("RGB")
    n_colors = count_colors(rgb)
    if n_colors > k:
        return (f"Not quite: my_result has {n_colors:,} colours, more than my_k = {k}. "
                "Did you call compress_image(my_photo, my_k)?")
    sample, compressed = pixel_sample(original, np.asarray(rgb))
    score, reference = psnr(sample, compressed), random_palette_psnr(sample, k)
    if score <= reference and score != math.inf:
        return (f"Not quite: my_result (PSNR {score:.1f} dB) is no closer to the photo than a palette of "
                f"{counted(k, 'pixel')} picked at random ({reference:.1f} dB on average). "
                "Is my_result really compress_image(my_photo, my_k)?")
    return (f"Correct! Your photo now has {counted(n_colors, 'colour')}; PSNR {score:.1f} dB, "
            f"against {reference:.1f} dB for a palette of {counted(k, 'pixel')} picked at random.")


def check_own_photo(result, photo, k):
    """Print whether result is the photo with at most k colours and beats a palette of k random pixels.

    The photo may be a path (opened with Pillow and turned upright by its EXIF orientation), a PIL image
    or an (H, W, 3) uint8 array. Both PSNRs are measured on the same seeded sample of at most 200,000
    pixels, so that a 12-megapixel photo needs little memory and time.
    """
    report(own_photo_message, result, photo, k)
