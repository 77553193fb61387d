"""compress_image at every k up to 256, and the K-means it runs (Lloyd's iterations with Hamerly's bounds)."""
import numpy as np
import pytest
from PIL import Image
from sklearn.cluster import KMeans

from colorquant import compress_image, psnr
from colorquant._kmeans import _lloyd
from pictures import photo_like


def plain_lloyd(points, weights, centers, fixed=0):
    """Textbook weighted Lloyd iterations until no label changes (no empty clusters expected)."""
    centers = centers.copy()
    labels = None
    while True:
        distances = ((points[:, None, :] - centers[None]) ** 2).sum(axis=2)
        new_labels = distances.argmin(axis=1)
        if labels is not None and np.array_equal(new_labels, labels):
            return centers, labels
        labels = new_labels
        for j in range(fixed, len(centers)):
            mine = labels == j
            centers[j] = (weights[mine, None] * points[mine]).sum(axis=0) / weights[mine].sum()


@pytest.mark.parametrize("compiled", [False, True], ids=["numpy", "compiled"])
@pytest.mark.parametrize("k, fixed, columns", [(5, 0, 3), (40, 0, 3), (12, 1, 4), (200, 0, 3)])
def test_lloyd_with_bounds_gives_what_plain_lloyd_gives(k, fixed, columns, compiled):
    rng = np.random.default_rng(k)
    points = np.vstack([rng.normal(center, 12, size=(150, columns))
                        for center in rng.uniform(30, 220, (8, columns))])
    weights = rng.integers(1, 20, size=len(points)).astype(float)
    start = points[rng.choice(len(points), k, replace=False)]
    expected_centers, expected_labels = plain_lloyd(points, weights, start, fixed)
    centers, labels = _lloyd(points, weights, start, 1000, fixed, compiled)
    if compiled or k < 200:   # NumPy's float32 distances may break near-ties otherwise than float64
        assert np.array_equal(labels, expected_labels)
    assert np.mean(labels == expected_labels) > 0.99
    assert np.allclose(centers, expected_centers)
    assert np.array_equal(centers[:fixed], start[:fixed])


@pytest.mark.parametrize("n_colors", [3, 64, 129, 255])
def test_at_most_k_colours_for_any_k(n_colors):
    result = compress_image(photo_like(96, 64), n_colors, seed=0)
    used = np.unique(np.asarray(result))
    colors = np.unique(np.array(result.getpalette()).reshape(-1, 3)[used], axis=0)
    assert len(used) <= n_colors and len(colors) > 1


@pytest.mark.parametrize("n_colors", [64, 200])
def test_high_k_is_close_to_the_best_of_three_kmeans_runs(n_colors):
    pixels = photo_like(96, 64)
    colors, inverse, counts = np.unique(pixels.reshape(-1, 3), axis=0, return_inverse=True,
                                        return_counts=True)
    fit = KMeans(n_colors, n_init=3, random_state=0).fit(colors, sample_weight=counts)
    palette = np.clip(np.rint(fit.cluster_centers_), 0, 255).astype(np.uint8)
    distances = ((colors[:, None, :].astype(float) - palette[None]) ** 2).sum(axis=2)
    reference = psnr(pixels, palette[distances.argmin(axis=1)][inverse.ravel()].reshape(pixels.shape))
    ours = psnr(pixels, np.asarray(compress_image(Image.fromarray(pixels), n_colors, seed=0).convert("RGB")))
    assert ours >= reference - 0.1, (ours, reference)
