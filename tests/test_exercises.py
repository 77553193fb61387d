"""The checks of exercises.py: placeholder, correct answers written any way, typical mistakes, their hints."""
import math
import warnings

import numpy as np
import pytest
from sklearn.cluster import KMeans

import exercises
from colorquant import compress_image, load_rgb, png_bytes, psnr


def printed(capsys, check, *args, **kwargs):
    """What a check prints; it must return None, so that a notebook cell shows only the printed text."""
    assert check(*args, **kwargs) is None
    return capsys.readouterr().out


def assert_hint(capsys, check, args, words):
    """The check answers the mistake with "Not quite:" and a hint holding each of the words."""
    out = printed(capsys, check, *args)
    assert out.startswith("Not quite:"), out
    assert max(len(line) for line in out.splitlines()) <= 100, out   # wrapped for a narrow output area
    flat = " ".join(out.split())   # the hint's words, across its line breaks
    for word in words:
        assert word in flat, out


# --- learner answers: right ones written several ways, and typical mistakes -----------------------------

def assign_points(X, centers):
    """Return, for each row of X, the index of the nearest row of centers."""
    return ((X[:, None, :].astype(float) - centers[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)


def assign_half_norm_list(X, centers):
    """Another distance formula (half norms, as colorquant.nearest), returned as a list."""
    X, centers = np.asarray(X, float), np.asarray(centers, float)
    return list((0.5 * (centers ** 2).sum(axis=1) - X @ centers.T).argmin(axis=1))


def assign_uint8_squares(X, centers):
    """The mistake: X - centers and its square both in uint8 (no conversion at all)."""
    return ((X[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)


def assign_wrapped_then_float(X, centers):
    """The mistake: the uint8 difference wraps, then is squared in float."""
    return ((X[:, None, :] - centers[None, :, :]).astype(float) ** 2).sum(axis=2).argmin(axis=1)


def assign_wrapped_norm(X, centers):
    """The mistake: np.linalg.norm of a wrapped uint8 difference."""
    return np.linalg.norm(X[:, None, :] - centers[None, :, :], axis=2).argmin(axis=1)


def assign_by_scan(X, centers):
    """A correct answer written as a Python loop over points, with Euclidean (not squared) distances."""
    X, centers = np.asarray(X, dtype=np.int64), np.asarray(centers, dtype=float)
    return [int(np.argmin([math.dist(point, center) for center in centers])) for point in X]


def update_centers(X, labels, centers):
    """Row j is the mean of the rows of X labelled j, or centers[j] if there are none."""
    return np.array([X[labels == j].mean(axis=0) if np.any(labels == j) else centers[j]
                     for j in range(len(centers))], dtype=float)


def update_by_sums(X, labels, centers):
    """A correct answer with np.add.at and counts, returned as a list."""
    sums, counts = np.zeros((len(centers), 3)), np.bincount(labels, minlength=len(centers))
    np.add.at(sums, labels, X)
    kept = counts == 0
    sums[~kept] /= counts[~kept, None]
    sums[kept] = np.asarray(centers)[kept]
    return sums.tolist()


def update_nan_when_empty(X, labels, centers):
    """The mistake: the mean of an empty cluster is NaN."""
    with np.errstate(all="ignore"):
        return np.array([X[labels == j].mean(axis=0) if np.any(labels == j) else [np.nan] * 3
                         for j in range(len(centers))])


def update_zero_when_empty(X, labels, centers):
    """The mistake: an empty cluster moved to black."""
    return np.array([X[labels == j].mean(axis=0) if np.any(labels == j) else [0.0] * 3
                     for j in range(len(centers))])


def update_drop_empty(X, labels, centers):
    """The mistake: an empty cluster dropped (k - 1 rows)."""
    return np.array([X[labels == j].mean(axis=0) for j in range(len(centers)) if np.any(labels == j)])


def kmeans(X, initial_centers, max_iter=100):
    """Lloyd's loop; a cluster without points keeps its center."""
    centers = np.array(initial_centers, dtype=float)
    labels = assign_points(X, centers)
    for _ in range(max_iter):
        centers = update_centers(X, labels, centers)
        new_labels = assign_points(X, centers)
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
    return centers, labels


def kmeans_while_loop(X, initial_centers, max_iter=100):
    """The same loop written with while and a change flag, on half-norm distances."""
    centers, labels, updates, changed = np.array(initial_centers, float), None, 0, True
    while changed and updates <= max_iter:
        new_labels = np.asarray(assign_half_norm_list(X, centers))
        changed = labels is None or not np.array_equal(new_labels, labels)
        labels = new_labels
        if changed and updates < max_iter:
            centers = update_centers(X, labels, centers)
        updates += 1
    return centers, labels


def kmeans_scaled_lists(X, initial_centers, max_iter=100):
    """The same loop on pixels scaled by 1/255, returned as lists."""
    centers, labels = kmeans(np.asarray(X) / 255, np.asarray(initial_centers) / 255, max_iter)
    return centers.tolist(), labels.tolist()


def kmeans_nan_when_empty(X, initial_centers, max_iter=100):
    """The mistake: the mean of an empty cluster (NaN)."""
    centers = np.array(initial_centers, dtype=float)
    labels = assign_points(X, centers)
    for _ in range(max_iter):
        centers = update_nan_when_empty(X, labels, centers)
        new_labels = assign_points(X, np.nan_to_num(centers, nan=1e9))
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
    return centers, labels


def kmeans_one_step(X, initial_centers, max_iter=100):
    """The mistake: one update, no loop."""
    labels = assign_points(X, initial_centers)
    centers = update_centers(X, labels, initial_centers)
    return centers, assign_points(X, centers)


def kmeans_ignores_max_iter(X, initial_centers, max_iter=100):
    """The mistake: always runs to convergence."""
    return kmeans(X, initial_centers, 100)


def kmeans_labels_before_last_update(X, initial_centers, max_iter=100):
    """The mistake: the labels of the assignment before the last update are returned."""
    centers = np.array(initial_centers, dtype=float)
    labels = assign_points(X, centers)
    for _ in range(max_iter):
        previous = labels
        centers = update_centers(X, labels, centers)
        labels = assign_points(X, centers)
        if np.array_equal(previous, labels):
            break
    return centers, previous


def fit_sample_predict(X, k, seed):
    """Fit KMeans(k) on a random 1% of the rows of X, then return a label for every row of X."""
    sample = X[np.random.default_rng(seed).choice(len(X), size=len(X) // 100, replace=False)]
    return KMeans(n_clusters=k, n_init=1, random_state=seed).fit(sample).predict(X)


def fit_sample_predict_scaled(X, k, seed):
    """The same on X / 255."""
    return fit_sample_predict(X / 255, k, seed)


def fit_sample_then_fit_predict(X, k, seed):
    """The mistake: fit on a sample, then fit_predict(X), which refits on all rows."""
    sample = X[np.random.default_rng(seed).choice(len(X), size=len(X) // 100, replace=False)]
    model = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(sample)
    return model.fit_predict(X)


def quality(image, k, seed):
    return psnr(image, np.asarray(compress_image(image, k, seed=seed).convert("RGB")))


def smallest_k(image, target_db, seed=0):
    """An upward scan."""
    return next((k for k in range(1, 65) if quality(image, k, seed) >= target_db), None)


def smallest_k_bisection(image, target_db, seed=0):
    """A bisection: any k that reaches the target while k - 1 does not."""
    if quality(image, 64, seed) < target_db:
        return None
    low, high = 0, 64          # quality(low) < target (k = 0: nothing), quality(high) >= target
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if quality(image, middle, seed) >= target_db else (middle, high)
    return high


def smallest_k_own_psnr(image, target_db, seed=0):
    """The scan with its own PSNR on floats in [0, 1], whatever the image's dtype."""
    original = np.asarray(load_rgb(image), dtype=float) / 255
    for k in range(1, 65):
        result = np.asarray(compress_image(image, k, seed=seed).convert("RGB"), dtype=float) / 255
        if 10 * np.log10(1 / np.mean((original - result) ** 2)) >= target_db:
            return np.int64(k)
    return None


def smallest_k_one_too_many(image, target_db, seed=0):
    """The mistake: one more than the first k that reaches the target."""
    k = smallest_k(image, target_db, seed)
    return None if k is None else min(k + 1, 64)


def smallest_k_one_too_few(image, target_db, seed=0):
    """The mistake: the last k that falls short (k - 1), 0 when k = 1 suffices."""
    k = smallest_k(image, target_db, seed)
    return None if k is None else k - 1


def png_size(image, k, seed):
    return len(png_bytes(compress_image(image, k, seed=seed)))


def largest_k_scan(image, max_bytes, seed=0):
    """An upward scan: stop at the first k whose successor does not fit."""
    if png_size(image, 1, seed) > max_bytes:
        return None
    k = 1
    while k < 256 and png_size(image, k + 1, seed) <= max_bytes:
        k += 1
    return k


def largest_k_bisection(image, max_bytes, seed=0):
    """A bisection keeping fits(low) and not fits(high)."""
    if png_size(image, 1, seed) > max_bytes:
        return None
    low, high = 1, 257
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if png_size(image, middle, seed) <= max_bytes else (low, middle)
    return low


def largest_k_one_too_many(image, max_bytes, seed=0):
    """The mistake: the first k that does not fit."""
    k = largest_k_scan(image, max_bytes, seed)
    return None if k is None else k + 1


def largest_k_one_too_few(image, max_bytes, seed=0):
    """The mistake: one less than a k that fits while k + 1 does not."""
    k = largest_k_scan(image, max_bytes, seed)
    return None if k is None else k - 1


def largest_k_returns_size(image, max_bytes, seed=0):
    """The mistake: the size of the PNG, not k."""
    k = largest_k_scan(image, max_bytes, seed)
    return None if k is None else png_size(image, k, seed)


def largest_k_gives_up(image, max_bytes, seed=0):
    """The mistake: None whenever k = 256 does not fit, as if no smaller k could."""
    return None if png_size(image, 256, seed) > max_bytes else 256


# --- placeholders ----------------------------------------------------------------------------------------

def placeholder(*args, **kwargs):
    """Only a docstring, as in the notebook."""


@pytest.mark.parametrize("check, args", [
    (exercises.check_assign_points, ()), (exercises.check_update_centers, ()), (exercises.check_kmeans, ()),
    (exercises.check_fit_sample_predict, (np.zeros((1000, 3), np.uint8),)), (exercises.check_smallest_k, ()),
    (exercises.check_largest_k_within, ())])
def test_placeholder_is_not_yet(capsys, check, args):
    assert printed(capsys, check, placeholder, *args).startswith("Not yet:")


# --- correct answers, written any way ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def pixels():
    return np.random.default_rng(0).integers(0, 256, size=(20_000, 3), dtype=np.uint8)


@pytest.mark.parametrize("check, answer", [
    (exercises.check_assign_points, assign_points), (exercises.check_assign_points, assign_half_norm_list),
    (exercises.check_assign_points, assign_by_scan),
    (exercises.check_update_centers, update_centers), (exercises.check_update_centers, update_by_sums),
    (exercises.check_update_centers,
     lambda X, labels, centers: (update_centers(X / 255, labels, np.asarray(centers) / 255)).tolist()),
    (exercises.check_kmeans, kmeans), (exercises.check_kmeans, kmeans_while_loop),
    (exercises.check_kmeans, kmeans_scaled_lists),
    (exercises.check_smallest_k, smallest_k), (exercises.check_smallest_k, smallest_k_bisection),
    (exercises.check_smallest_k, smallest_k_own_psnr),
    (exercises.check_largest_k_within, largest_k_scan),
    (exercises.check_largest_k_within, largest_k_bisection)])
def test_correct_answers_are_correct(capsys, check, answer):
    assert printed(capsys, check, answer).startswith("Correct!")


@pytest.mark.parametrize("answer", [fit_sample_predict, fit_sample_predict_scaled])
def test_fit_sample_predict_answers_are_correct(capsys, pixels, answer):
    assert printed(capsys, exercises.check_fit_sample_predict, answer, pixels, seed=0).startswith("Correct!")


def test_kmeans_matches_scikit_learn_on_the_check_cases():
    """The reference agrees with KMeans(init=..., n_init=1, tol=0) where no cluster empties."""
    cases, _ = exercises.kmeans_cases()
    for X, start in cases:
        for max_iter in (100, 2):
            sk = KMeans(len(start), init=start, n_init=1, tol=0, max_iter=max_iter).fit(X.astype(float))
            centers, labels, _ = exercises.lloyd(X, start, max_iter)
            assert np.allclose(centers, sk.cluster_centers_, atol=1e-6) and np.array_equal(labels, sk.labels_)


def test_the_checks_feed_8_bit_16_bit_and_float_images(monkeypatch):
    """smallest_k and largest_k_within receive the test image in each form a learner's image may take."""
    seen = []
    for check, answer in [(exercises.check_smallest_k, smallest_k), (exercises.check_largest_k_within,
                                                                      largest_k_bisection)]:
        def spy(image, *args, answer=answer, **kwargs):
            seen.append(np.asarray(image).dtype.kind + str(np.asarray(image).dtype.itemsize))
            return answer(image, *args, **kwargs)
        check(spy)
    assert set(seen) == {"u1", "u2", "f8"}, seen


def test_the_empty_cluster_cases_really_empty_a_cluster():
    """The update check's second case has a label without points; the loop check's start ties a center."""
    _, (_, labels, centers) = exercises.update_cases()
    assert not np.any(labels == 2) and len(centers) == 5
    _, (X_empty, start) = exercises.kmeans_cases()
    assert not np.any(exercises.squared_distances(X_empty, start).argmin(axis=1) == 3)


# --- mistakes get a hint that names them --------------------------------------------------------------------

@pytest.mark.parametrize("check, answer, words", [
    (exercises.check_assign_points, lambda X, c: ((X[:, None] - c[None]) ** 2).sum(2).argmax(1), ["argmax"]),
    (exercises.check_assign_points, lambda X, c: ((X[:, None] - c[None]) ** 2).sum(2),
     ["table of distances"]),
    (exercises.check_assign_points, assign_wrapped_then_float, ["wraps around", "X.astype(float)"]),
    (exercises.check_assign_points, assign_uint8_squares, ["wraps around", "X.astype(float)"]),
    (exercises.check_assign_points, assign_wrapped_norm, ["wraps around", "X.astype(float)"]),
    (exercises.check_update_centers,
     lambda X, labels, centers: np.array([np.median(X[labels == j], 0) if np.any(labels == j) else centers[j]
                                          for j in range(len(centers))]),
     ["medians"]),
    (exercises.check_update_centers, lambda X, labels, c: np.floor(update_centers(X, labels, c)),
     ["truncated"]),
    (exercises.check_update_centers, lambda X, labels, c: np.rint(update_centers(X, labels, c)), ["rounded"]),
    (exercises.check_update_centers, lambda X, labels, c: c, ["unchanged"]),
    (exercises.check_update_centers, update_nan_when_empty, ["cluster 2 has no points", "NaN", "centers[2]"]),
    (exercises.check_update_centers,   # the same mistake as written: NumPy's mean of an empty selection
     lambda X, labels, centers: np.array([X[labels == j].mean(axis=0) for j in range(len(centers))]),
     ["cluster 2 has no points", "NaN"]),
    (exercises.check_update_centers, update_zero_when_empty, ["cluster 2 has no points", "centers[2]"]),
    (exercises.check_update_centers, update_drop_empty, ["keep a row for the cluster without points"]),
    (exercises.check_kmeans, kmeans_nan_when_empty, ["cluster 3", "NaN", "previous center"]),
    (exercises.check_kmeans, kmeans_one_step, ["Loop until no label changes"]),
    (exercises.check_kmeans, kmeans_ignores_max_iter, ["max_iter=2"]),
    (exercises.check_kmeans, kmeans_labels_before_last_update,
     ["labels are those of the assignment before the last update", "Assign once more"]),
    (exercises.check_kmeans, lambda X, start, max_iter=100: kmeans(X, start)[0], ["(centers, labels)"]),
    (exercises.check_smallest_k, smallest_k_one_too_many, ["one too large", "already reaches"]),
    (exercises.check_smallest_k, smallest_k_one_too_few, ["one too small"]),
    (exercises.check_smallest_k, lambda image, target, seed=0: 1, ["reaches only"]),
    (exercises.check_smallest_k, lambda image, target, seed=0: 64.0, ["from 1 to 64"]),
    (exercises.check_largest_k_within, largest_k_one_too_many, ["one too large", "over the budget"]),
    (exercises.check_largest_k_within, largest_k_one_too_few, ["one too small", "fits too"]),
    (exercises.check_largest_k_within, largest_k_returns_size, ["not the size"]),
    (exercises.check_largest_k_within, lambda image, max_bytes, seed=0: 1, ["return None when nothing fits"]),
    (exercises.check_largest_k_within, largest_k_gives_up, ["returned None", "k = 1"]),
])
def test_mistakes_get_their_hint(capsys, check, answer, words):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert_hint(capsys, check, (answer,), words)
    # the hint alone: no NumPy warning (an empty mean, 0 / 0) printed in red beside it
    assert not [str(warning.message) for warning in caught if issubclass(warning.category, RuntimeWarning)]


def test_fit_predict_after_a_sample_is_named(capsys, pixels):
    """Fitting on a sample, then fit_predict(X): the hint names fit_predict and its refit."""
    assert_hint(capsys, exercises.check_fit_sample_predict, (fit_sample_then_fit_predict, pixels),
                ["fit_predict", "predict(X)"])


def test_fit_on_all_rows_is_named(capsys, pixels):
    answer = lambda X, k, seed: KMeans(k, n_init=1, random_state=seed).fit(X).predict(X)
    assert_hint(capsys, exercises.check_fit_sample_predict, (answer, pixels), ["all 20,000 rows"])


def test_exception_in_learner_code_is_a_hint(capsys):
    assert_hint(capsys, exercises.check_kmeans, (lambda X, start, max_iter=100: 1 / 0,),
                ["ZeroDivisionError"])
