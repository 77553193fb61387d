"""The checks of exercises.py: placeholder, solution, typical mistakes and exceptions give their message."""
import numpy as np
import pytest
from PIL import Image, ImageOps
from sklearn.cluster import KMeans, MiniBatchKMeans

import exercises
from pictures import photo_like


def printed(capsys, check, *args, **kwargs):
    """What a check prints; it must return None, so that a notebook cell shows only the printed text."""
    assert check(*args, **kwargs) is None
    return capsys.readouterr().out


def assert_hint(capsys, check, mistake, words):
    """The check answers the mistake with "Not quite:" and a hint holding each of the words."""
    out = printed(capsys, check, mistake)
    assert out.startswith("Not quite:")
    for word in words:
        assert word in out, out


# --- exercise 1: assign_points ----------------------------------------------------------------------

def assign_points_placeholder(X, centers):
    """Return, for each row of X, the index of the nearest row of centers."""
    # your code here


def assign_points_solution(X, centers):
    """Return, for each row of X, the index of the nearest row of centers."""
    distances = ((X[:, None, :].astype(float) - centers[None, :, :]) ** 2).sum(axis=2)
    return distances.argmin(axis=1)


def float_distances(X, centers):
    """The (N, k) squared distances, as the solution computes them."""
    return ((X[:, None, :].astype(float) - centers[None, :, :]) ** 2).sum(axis=2)


def test_assign_points_placeholder_is_not_yet(capsys):
    assert printed(capsys, exercises.check_assign_points, assign_points_placeholder) == (
        "Not yet: write the body of assign_points (under its docstring), then run this cell again.\n")


def test_assign_points_return_none_is_not_yet(capsys):
    def assign_points(X, centers):
        """Return, for each row of X, the index of the nearest row of centers."""
        return   # your code here

    assert printed(capsys, exercises.check_assign_points, assign_points).startswith("Not yet:")


def test_assign_points_solution_is_correct(capsys):
    assert printed(capsys, exercises.check_assign_points, assign_points_solution).startswith("Correct!")


def test_assign_points_list_of_indices_is_correct(capsys):
    def assign_points(X, centers):
        """Return, for each row of X, the index of the nearest row of centers."""
        return [int(np.argmin(((x.astype(float) - centers) ** 2).sum(axis=1))) for x in X]

    assert printed(capsys, exercises.check_assign_points, assign_points).startswith("Correct!")


@pytest.mark.parametrize(("mistake", "words"), [
    (lambda X, c: float_distances(X, c), ["table of distances", "axis 1"]),
    (lambda X, c: float_distances(X, c).argmin(axis=0), ["one per center", "axis 0"]),
    (lambda X, c: float_distances(X, c).argmin(), ["single number", "argmin(axis=1)"]),
    (lambda X, c: float_distances(X, c).argmax(axis=1), ["farthest", "argmax"]),
    (lambda X, c: ((X[:, None, :] - c[None, :, :]) ** 2).sum(axis=2).argmin(axis=1),
     ["wraps around", "float"]),
    (lambda X, c: np.linalg.norm(X[:, None, :] - c[None, :, :], axis=2).argmin(axis=1), ["wraps around"]),
    (lambda X, c: ((X[:, None, :].astype(float) - c) ** 2).argmin(axis=1), ["colour axis", "axis=2"]),
    (lambda X, c: c[float_distances(X, c).argmin(axis=1)], ["colours of the nearest centers"]),
    (lambda X, c: np.abs(X[:, None, :].astype(float) - c).sum(axis=2).argmin(axis=1),
     ["labels are wrong", "The first is row"]),
    (lambda X, c: float_distances(X, c).argmin(axis=1) + 1, ["whole number from 0 to 3"]),
    (lambda X, c: "labels", ["array of numbers", "str"]),
], ids=["distances", "axis0", "no-axis", "argmax", "uint8", "uint8-norm", "no-sum", "colours", "manhattan",
        "off-by-one", "string"])
def test_assign_points_mistakes_get_their_hint(capsys, mistake, words):
    assert_hint(capsys, exercises.check_assign_points, mistake, words)


def test_assign_points_without_return(capsys):
    def assign_points(X, centers):
        """Return, for each row of X, the index of the nearest row of centers."""
        float_distances(X, centers).argmin(axis=1)

    out = printed(capsys, exercises.check_assign_points, assign_points)
    assert out.startswith("Not quite:") and "forget the return" in out


def test_assign_points_exception_is_reported(capsys):
    def assign_points(X, centers):
        """Return, for each row of X, the index of the nearest row of centers."""
        return ((X - centers) ** 2).sum(axis=1)

    out = printed(capsys, exercises.check_assign_points, assign_points)
    assert out.startswith("Not quite: assign_points raised ValueError") and "broadcast" in out


def test_assign_points_not_a_function(capsys):
    out = printed(capsys, exercises.check_assign_points, 42)
    assert out.startswith("Not quite:") and "check_assign_points(assign_points)" in out


# --- exercise 2: update_centers ---------------------------------------------------------------------

def update_centers_placeholder(X, labels, k):
    """Return a (k, 3) array: row j is the mean of the rows of X whose label is j."""
    # your code here


def update_centers_solution(X, labels, k):
    """Return a (k, 3) array: row j is the mean of the rows of X whose label is j."""
    return np.array([X[labels == j].mean(axis=0) for j in range(k)])


def test_update_centers_placeholder_is_not_yet(capsys):
    assert printed(capsys, exercises.check_update_centers, update_centers_placeholder) == (
        "Not yet: write the body of update_centers (under its docstring), then run this cell again.\n")


def test_update_centers_solution_is_correct(capsys):
    assert printed(capsys, exercises.check_update_centers, update_centers_solution).startswith("Correct!")


@pytest.mark.parametrize(("mistake", "words"), [
    (lambda X, labels, k: np.array([X[labels == j].mean() for j in range(k)]), ["3 numbers", "axis 0"]),
    (lambda X, labels, k: update_centers_solution(X, labels, k).T, ["swapped"]),
    (lambda X, labels, k: X.mean(axis=0), ["one colour"]),
    (lambda X, labels, k: np.tile(X.mean(axis=0), (k, 1)), ["mean of all of X"]),
    (lambda X, labels, k: np.array([np.median(X[labels == j], axis=0) for j in range(k)]), ["medians"]),
    (lambda X, labels, k: np.array([X[labels == j].sum(axis=0) for j in range(k)]), ["sums"]),
    (lambda X, labels, k: update_centers_solution(X, labels, k).astype(np.uint8), ["floats"]),
    (lambda X, labels, k: np.rint(update_centers_solution(X, labels, k)), ["floats"]),
    (lambda X, labels, k: update_centers_solution(X, labels, k)[::-1], ["wrong order", "label j"]),
    (lambda X, labels, k: np.array([X[labels == j][:10].mean(axis=0) for j in range(k)]),
     ["rows are wrong", "row 0"]),
    (lambda X, labels, k: np.array([X[labels == j + 1].mean(axis=0) for j in range(k)]), ["NaN"]),
], ids=["axis", "transposed", "one-colour", "overall-mean", "median", "sum", "uint8", "rint", "order",
        "generic", "empty"])
@pytest.mark.filterwarnings("ignore:Mean of empty slice", "ignore:invalid value encountered")
def test_update_centers_mistakes_get_their_hint(capsys, mistake, words):
    assert_hint(capsys, exercises.check_update_centers, mistake, words)


def test_update_centers_exception_is_reported(capsys):
    def update_centers(X, labels, k):
        """Return a (k, 3) array: row j is the mean of the rows of X whose label is j."""
        return np.array([X[labels == j].mean(axis=2) for j in range(k)])

    out = printed(capsys, exercises.check_update_centers, update_centers)
    assert out.startswith("Not quite: update_centers raised AxisError")


# --- exercise 3: fit_sample_predict -----------------------------------------------------------------

def blob_pixels(n=20_000, seed=0):
    """Seeded uint8 colours around six random centers: a small stand-in for a photo's pixels."""
    rng = np.random.default_rng(seed)
    centers = rng.uniform(30, 225, size=(6, 3))
    return np.clip(centers[rng.integers(0, 6, n)] + rng.normal(0, 15, (n, 3)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def pixels():
    """20,000 seeded pixels, so the fits in these tests are quick."""
    return blob_pixels()


def fit_sample_predict_placeholder(X, k, seed):
    """Fit KMeans(k) on a random 1% of the rows of X, then return a label for every row of X."""
    # your code here


def fitted_on_share(X, k, seed, share=0.01, random=True):
    """The solution generalised: fit on a share of the rows, random or the first ones; return the model."""
    size = int(len(X) * share)
    rows = np.random.default_rng(seed).choice(len(X), size=size, replace=False) if random else np.arange(size)
    return KMeans(n_clusters=k, n_init=1, random_state=seed).fit(X[rows])


def fit_sample_predict_solution(X, k, seed):
    """Fit KMeans(k) on a random 1% of the rows of X, then return a label for every row of X."""
    rng = np.random.default_rng(seed)
    sample = X[rng.choice(len(X), size=len(X) // 100, replace=False)]
    model = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(sample)
    return model.predict(X)


def test_fit_sample_predict_placeholder_is_not_yet(capsys, pixels):
    out = printed(capsys, exercises.check_fit_sample_predict, fit_sample_predict_placeholder, pixels, seed=0)
    assert out == (
        "Not yet: write the body of fit_sample_predict (under its docstring), then run this cell again.\n")


def test_fit_sample_predict_solution_is_correct(capsys, pixels):
    out = printed(capsys, exercises.check_fit_sample_predict, fit_sample_predict_solution, pixels, seed=0)
    assert out == "Correct! The model was fitted on 200 of 20,000 pixels (1.0%) and labelled them all.\n"


def test_fit_sample_predict_fit_predict_on_sample_then_predict_is_correct(capsys, pixels):
    def fit_sample_predict(X, k, seed):
        """Fit KMeans(k) on a random 1% of the rows of X, then return a label for every row of X."""
        sample = X[np.random.default_rng(seed).permutation(len(X))[:len(X) // 80]]
        model = KMeans(n_clusters=k, random_state=seed)
        model.fit_predict(sample)
        return model.predict(X)

    out = printed(capsys, exercises.check_fit_sample_predict, fit_sample_predict, pixels, seed=3)
    assert out.startswith("Correct! The model was fitted on 250 of 20,000 pixels (1.2%)")


@pytest.mark.parametrize(("mistake", "words"), [
    (lambda X, k, seed: MiniBatchKMeans(n_clusters=k, random_state=seed).fit(X[:: 100]).predict(X),
     ["no KMeans", "sklearn.cluster.KMeans"]),
    (lambda X, k, seed: fitted_on_share(X, k, seed, share=1.0).predict(X), ["all 20,000 rows", "1%"]),
    (lambda X, k, seed: fitted_on_share(X, k, seed, share=0.1).predict(X), ["2,000 rows (10.0% of X)", "1%"]),
    (lambda X, k, seed: fitted_on_share(X, k, seed, share=0.004).predict(X), ["80 rows (0.4% of X)"]),
    (lambda X, k, seed: fitted_on_share(X, k, seed, random=False).predict(X), ["first rows", "random"]),
    (lambda X, k, seed: fitted_on_share(X, 3, seed).predict(X), ["n_clusters=3", "k = 8"]),
    (lambda X, k, seed: fitted_on_share(X, k, seed).labels_, ["200 labels", "predict on all of X"]),
    (lambda X, k, seed: fitted_on_share(X, k, seed).predict(X[1:]), ["one label per row", "(19999,)"]),
    (lambda X, k, seed: (fitted_on_share(X, k, seed).predict(X) + 1) % k, ["nearest center", "predict(X)"]),
    (lambda X, k, seed: fitted_on_share(X, k, seed), ["array of numbers", "KMeans"]),
], ids=["minibatch", "all-rows", "ten-percent", "too-few", "first-rows", "wrong-k", "sample-labels",
        "short", "wrong-labels", "model"])
def test_fit_sample_predict_mistakes_get_their_hint(capsys, pixels, mistake, words):
    out = printed(capsys, exercises.check_fit_sample_predict, mistake, pixels, seed=0)
    assert out.startswith("Not quite:")
    for word in words:
        assert word in out


def test_fit_sample_predict_exception_is_reported_and_fit_restored(capsys, pixels):
    original_fit = KMeans.fit

    def fit_sample_predict(X, k, seed):
        """Fit KMeans(k) on a random 1% of the rows of X, then return a label for every row of X."""
        return KMeans(n_clusters=k).fit(X[:5]).predict(X)

    out = printed(capsys, exercises.check_fit_sample_predict, fit_sample_predict, pixels, seed=0)
    assert out.startswith("Not quite: fit_sample_predict raised ValueError") and "n_clusters=8" in out
    assert KMeans.fit is original_fit


def test_fit_sample_predict_check_needs_the_pixels(capsys, pixels):
    image = pixels.reshape(100, 200, 3)
    out = printed(capsys, exercises.check_fit_sample_predict, fit_sample_predict_solution, image, seed=0)
    assert out.startswith("Not quite:") and "(N, 3) array of pixels" in out


# --- exercise 4: check_own_photo --------------------------------------------------------------------

def quantized(image, k):
    """The image with k colours by K-means fitted on every 10th pixel: a quick stand-in for compress_image.

    (Pillow's median cut, image.quantize(k), is no better than a random palette on these noisy images.)
    """
    pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    model = KMeans(n_clusters=k, n_init=1, random_state=0).fit(pixels[::10])
    result = Image.frombytes("P", image.size, model.predict(pixels).astype(np.uint8).tobytes())
    result.putpalette(np.rint(model.cluster_centers_).astype(np.uint8).ravel().tolist())
    return result


@pytest.fixture(scope="module")
def photo():
    """A 96 x 64 photo-like test image, as a PIL image."""
    return Image.fromarray(photo_like(96, 64))


def test_own_photo_placeholders_are_not_yet(capsys):
    assert printed(capsys, exercises.check_own_photo, None, None, 8) == (
        "Not yet: set my_photo to the path of a photo of yours and my_result to "
        "compress_image(my_photo, my_k), then run this cell again.\n")


def test_own_photo_without_result_is_not_yet(capsys, photo):
    assert printed(capsys, exercises.check_own_photo, None, photo, 8).startswith("Not yet: now set my_result")


def test_own_photo_without_photo_is_not_yet(capsys, photo):
    out = printed(capsys, exercises.check_own_photo, quantized(photo, 8), None, 8)
    assert out.startswith("Not yet: also set my_photo")


@pytest.mark.parametrize("as_", ["pil", "array", "str", "path"])
def test_own_photo_quantized_is_correct(capsys, photo, tmp_path, as_):
    path = tmp_path / "photo.png"
    photo.save(path)
    source = {"pil": photo, "array": np.asarray(photo), "str": str(path), "path": path}[as_]
    out = printed(capsys, exercises.check_own_photo, quantized(photo, 8), source, 8)
    assert out.startswith("Correct! Your photo now has 8 colours; PSNR ")
    assert "for a palette of 8 pixels picked at random" in out


def test_own_photo_exif_rotated_jpeg_is_compared_upright(capsys, tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6   # stored 48 x 32, shown 32 x 48
    path = tmp_path / "phone.jpg"
    Image.fromarray(photo_like()).save(path, exif=exif)
    with Image.open(path) as stored:
        upright = ImageOps.exif_transpose(stored)
        sideways = stored.convert("RGB")
    assert upright.size == (32, 48)
    assert printed(capsys, exercises.check_own_photo, quantized(upright, 8), path, 8).startswith("Correct!")
    out = printed(capsys, exercises.check_own_photo, quantized(sideways, 8), path, 8)
    assert out.startswith("Not quite:") and "48 x 32" in out and "32 x 48" in out


def test_own_photo_large_photo_is_measured_on_a_sample(capsys):
    photo = Image.fromarray(photo_like(600, 400))   # 240,000 pixels: more than the 200,000 measured
    assert printed(capsys, exercises.check_own_photo, quantized(photo, 16), photo, 16).startswith("Correct!")


def test_own_photo_with_transparency_is_correct(capsys, photo):
    rgba = photo.convert("RGBA")
    rgba.putalpha(Image.fromarray(np.tile(np.arange(96, dtype=np.uint8) * 2, (64, 1))))
    result = quantized(photo, 8).convert("RGBA")
    result.putalpha(rgba.getchannel("A"))
    assert printed(capsys, exercises.check_own_photo, result, rgba, 8).startswith("Correct!")


@pytest.mark.parametrize(("make_result", "words"), [
    (lambda photo: np.asarray(quantized(photo, 8).convert("RGB")), ["ndarray", "PIL image"]),
    (lambda photo: quantized(photo.resize((48, 32)), 8), ["48 x 32", "96 x 64", "resized"]),
    (lambda photo: photo, ["more than my_k = 8"]),
    (lambda photo: Image.new("RGB", photo.size, (128, 128, 128)), ["picked at random", "dB"]),
    (lambda photo: quantized(Image.fromarray(photo_like(96, 64, seed=5)[::-1]), 8), ["picked at random"]),
], ids=["array", "resized", "too-many-colours", "flat-grey", "other-photo"])
def test_own_photo_mistakes_get_their_hint(capsys, photo, make_result, words):
    out = printed(capsys, exercises.check_own_photo, make_result(photo), photo, 8)
    assert out.startswith("Not quite:")
    for word in words:
        assert word in out


def test_own_photo_missing_file_is_reported(capsys, photo, tmp_path):
    out = printed(capsys, exercises.check_own_photo, quantized(photo, 8), str(tmp_path / "missing.jpg"), 8)
    assert out.startswith("Not quite: could not open my_photo (FileNotFoundError")


def test_own_photo_bad_k_is_reported(capsys, photo):
    out = printed(capsys, exercises.check_own_photo, quantized(photo, 8), photo, "8")
    assert out.startswith("Not quite: my_k should be a whole number")
