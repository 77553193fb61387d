"""The checks of exercises.py: placeholder, correct answers written any way, typical mistakes, their hints."""
import numpy as np
import pytest
from PIL import Image
from sklearn.cluster import KMeans

import exercises
from colorquant import compress_image, psnr
from pictures import photo_like


def printed(capsys, check, *args, **kwargs):
    """What a check prints; it must return None, so that a notebook cell shows only the printed text."""
    assert check(*args, **kwargs) is None
    return capsys.readouterr().out


def assert_hint(capsys, check, args, words):
    """The check answers the mistake with "Not quite:" and a hint holding each of the words."""
    out = printed(capsys, check, *args)
    assert out.startswith("Not quite:"), out
    for word in words:
        assert word in out, out


# --- learner answers: right ones written several ways, and typical mistakes -----------------------------

def assign_points(X, centers):
    """Return, for each row of X, the index of the nearest row of centers."""
    return ((X[:, None, :].astype(float) - centers[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)


def assign_half_norm_list(X, centers):
    """Another distance formula (half norms, as colorquant.nearest), returned as a list."""
    X, centers = np.asarray(X, float), np.asarray(centers, float)
    return list((0.5 * (centers ** 2).sum(axis=1) - X @ centers.T).argmin(axis=1))


def update_centers(X, labels, k):
    """Return a (k, 3) array: row j is the mean of the rows of X whose label is j."""
    return np.array([X[labels == j].mean(axis=0) for j in range(k)])


def kmeans(X, initial_centers, max_iter=100):
    """Lloyd's loop; a cluster without points keeps its center."""
    centers = np.array(initial_centers, dtype=float)
    labels = assign_points(X, centers)
    for _ in range(max_iter):
        centers = np.array([X[labels == j].mean(axis=0) if np.any(labels == j) else centers[j]
                            for j in range(len(centers))])
        new_labels = assign_points(X, centers)
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
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
        with np.errstate(all="ignore"):
            centers = np.array([X[labels == j].mean(axis=0) if np.any(labels == j) else [np.nan] * 3
                                for j in range(len(centers))])
        new_labels = assign_points(X, np.nan_to_num(centers, nan=1e9))
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
    return centers, labels


def kmeans_one_step(X, initial_centers, max_iter=100):
    """The mistake: one update, no loop."""
    labels = assign_points(X, initial_centers)
    centers = update_centers(X, labels, len(initial_centers))
    return centers, assign_points(X, centers)


def kmeans_ignores_max_iter(X, initial_centers, max_iter=100):
    """The mistake: always runs to convergence."""
    return kmeans(X, initial_centers, 100)


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


def smallest_k_one_too_many(image, target_db, seed=0):
    """The mistake: the first k that goes beyond the target, plus one."""
    k = smallest_k(image, target_db, seed)
    return None if k is None else min(k + 1, 64)


# --- placeholders ----------------------------------------------------------------------------------------

def placeholder(*args, **kwargs):
    """Only a docstring, as in the notebook."""


@pytest.mark.parametrize("check, args", [
    (exercises.check_assign_points, ()), (exercises.check_update_centers, ()), (exercises.check_kmeans, ()),
    (exercises.check_fit_sample_predict, (np.zeros((1000, 3), np.uint8),)), (exercises.check_smallest_k, ())])
def test_placeholder_is_not_yet(capsys, check, args):
    assert printed(capsys, check, placeholder, *args).startswith("Not yet:")


def test_own_photo_placeholder_is_not_yet(capsys):
    assert printed(capsys, exercises.check_own_photo, None, None, 8).startswith("Not yet:")


# --- correct answers, written any way ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def pixels():
    return np.random.default_rng(0).integers(0, 256, size=(20_000, 3), dtype=np.uint8)


@pytest.mark.parametrize("check, answer", [
    (exercises.check_assign_points, assign_points), (exercises.check_assign_points, assign_half_norm_list),
    (exercises.check_update_centers, update_centers),
    (exercises.check_update_centers, lambda X, labels, k: (update_centers(X, labels, k) / 255).tolist()),
    (exercises.check_kmeans, kmeans), (exercises.check_kmeans, kmeans_scaled_lists),
    (exercises.check_smallest_k, smallest_k), (exercises.check_smallest_k, smallest_k_bisection)])
def test_correct_answers_are_correct(capsys, check, answer):
    assert printed(capsys, check, answer).startswith("Correct!")


@pytest.mark.parametrize("answer", [fit_sample_predict, fit_sample_predict_scaled])
def test_fit_sample_predict_answers_are_correct(capsys, pixels, answer):
    assert printed(capsys, exercises.check_fit_sample_predict, answer, pixels, seed=0).startswith("Correct!")


def test_kmeans_matches_scikit_learn_on_the_check_cases():
    """The reference agrees with KMeans(init=..., n_init=1, tol=0) where no cluster empties."""
    cases, _ = exercises.kmeans_cases()
    for X, start in cases:
        sk = KMeans(len(start), init=start, n_init=1, tol=0, max_iter=100).fit(X.astype(float))
        centers, labels = exercises.lloyd(X, start)
        assert np.allclose(centers, sk.cluster_centers_, atol=1e-6) and np.array_equal(labels, sk.labels_)


# --- mistakes get a hint that names them --------------------------------------------------------------------

@pytest.mark.parametrize("check, answer, words", [
    (exercises.check_assign_points, lambda X, c: ((X[:, None] - c[None]) ** 2).sum(2).argmax(1), ["argmax"]),
    (exercises.check_assign_points, lambda X, c: ((X[:, None] - c[None]) ** 2).sum(2),
     ["table of distances"]),
    (exercises.check_assign_points, lambda X, c: ((X[:, None] - c[None]).astype(float) ** 2).sum(2).argmin(1),
     ["wraps around"]),
    (exercises.check_update_centers,
     lambda X, labels, k: np.array([np.median(X[labels == j], 0) for j in range(k)]),
     ["medians"]),
    (exercises.check_update_centers, lambda X, labels, k: np.floor(update_centers(X, labels, k)),
     ["truncated"]),
    (exercises.check_kmeans, kmeans_nan_when_empty, ["cluster 3", "NaN", "previous center"]),
    (exercises.check_kmeans, kmeans_one_step, ["Loop until no label changes"]),
    (exercises.check_kmeans, kmeans_ignores_max_iter, ["max_iter=2"]),
    (exercises.check_kmeans, lambda X, start, max_iter=100: kmeans(X, start)[0], ["(centers, labels)"]),
    (exercises.check_smallest_k, smallest_k_one_too_many, ["already reaches"]),
    (exercises.check_smallest_k, lambda image, target, seed=0: 1, ["reaches only"]),
    (exercises.check_smallest_k, lambda image, target, seed=0: 64.0, ["from 1 to 64"]),
])
def test_mistakes_get_their_hint(capsys, check, answer, words):
    assert_hint(capsys, check, (answer,), words)


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


# --- your own photo: every kind compress_image reads ---------------------------------------------------

@pytest.fixture(scope="module")
def photo():
    return photo_like(60, 40)


def save_16_bit_png(rgb, path):
    """A 16-bit grayscale PNG (Pillow writes no 16-bit RGB): values 0 to 65535, read as grey."""
    Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(path)


@pytest.mark.parametrize("kind", ["path", "16-bit png", "float array", "pil"])
def test_own_photo_of_every_kind_is_correct(capsys, photo, tmp_path, kind):
    if kind == "path":
        source = tmp_path / "photo.png"
        Image.fromarray(photo).save(source)
    elif kind == "16-bit png":
        source = tmp_path / "photo16.png"
        save_16_bit_png(photo, source)
    elif kind == "float array":
        source = photo / 255.0
    else:
        source = Image.fromarray(photo)
    out = printed(capsys, exercises.check_own_photo, compress_image(source, 8), source, 8)
    assert out.startswith("Correct!"), out


def test_own_photo_saved_result_is_named(capsys, photo):
    """my_result = compress_image(...).save(...) is None: the hint says why."""
    assert_hint(capsys, exercises.check_own_photo, (None, photo, 8), [".save(...) returns None"])


@pytest.mark.parametrize("make_result, words", [
    (lambda photo: compress_image(photo, 32), ["more than my_k"]),
    (lambda photo: compress_image(photo[:20], 8), ["resized"]),
    (lambda photo: photo, ["PIL image"]),
    (lambda photo: Image.fromarray(np.zeros_like(photo)), ["random pixels"])])
def test_own_photo_mistakes_get_their_hint(capsys, photo, make_result, words):
    assert_hint(capsys, exercises.check_own_photo, (make_result(photo), photo, 8), words)


def test_own_photo_missing_file_is_named(capsys, photo, tmp_path):
    missing = tmp_path / "nope.jpg"
    assert_hint(capsys, exercises.check_own_photo, (compress_image(photo, 8), missing, 8), ["nope.jpg"])
