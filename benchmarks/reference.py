"""The quality reference for compress_image: PSNR of the best of 10 seeded K-means runs.

tests/test_quantisation.py stores these values as constants (it must not import benchmarks, and
recomputing them took most of the suite's time); this script recomputes them and prints them in the
form the test stores, with the package versions they came from. Usage, from the repository root:

    python -m benchmarks.reference
"""
from importlib.metadata import version
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans

from colorquant import load_rgb, nearest, psnr

TULIPS = Path(__file__).resolve().parents[1] / "images" / "tulips.jpg"
KS = (8, 16, 32)


def best_of_kmeans_psnr(pixels, k, n_init=10, seed=0):
    """PSNR of the best of n_init K-means runs, each pixel mapped to its nearest rounded centre.

    ``KMeans(k, n_init=n_init, random_state=seed)`` (k-means++ starts) fits the distinct colours
    weighted by their pixel counts: the same objective as all pixels, much faster. The centres are
    rounded to 8 bits, as compress_image rounds its palette.
    """
    colors, index, counts = np.unique(pixels.reshape(-1, 3), axis=0, return_inverse=True,
                                      return_counts=True)
    best = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(colors, sample_weight=counts)
    palette = np.clip(np.rint(best.cluster_centers_), 0, 255).astype(np.uint8)
    return psnr(pixels, palette[nearest(colors, palette)][index.ravel()].reshape(pixels.shape))


def main():
    pixels = load_rgb(TULIPS)
    versions = ", ".join(f"{name} {version(name)}" for name in ("numpy", "scikit-learn", "pillow"))
    print(f"# best_of_kmeans_psnr(tulips, k, n_init=10, seed=0), by benchmarks/reference.py with {versions}")
    values = {k: round(best_of_kmeans_psnr(pixels, k), 3) for k in KS}
    print(f"BEST_OF_10_PSNR = {values}")


if __name__ == "__main__":
    main()
