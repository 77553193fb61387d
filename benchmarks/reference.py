"""The quality reference for compress_image: PSNR of the best of 20 seeded K-means runs."""
import numpy as np
from sklearn.cluster import KMeans

from colorquant import nearest, psnr


def best_of_kmeans_psnr(pixels, k, n_init=20, seed=0):
    """PSNR of the best of n_init K-means runs, each pixel mapped to its nearest rounded center.

    The runs fit the distinct colours weighted by their pixel counts: the same objective as all pixels.
    """
    colors, index, counts = np.unique(pixels.reshape(-1, 3), axis=0, return_inverse=True, return_counts=True)
    best = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(colors, sample_weight=counts)
    palette = np.clip(np.rint(best.cluster_centers_), 0, 255).astype(np.uint8)
    return psnr(pixels, palette[nearest(colors, palette)][index.ravel()].reshape(pixels.shape))
