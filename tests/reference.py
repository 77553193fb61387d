"""The quality reference for compress_image: PSNR of the best of 20 seeded K-means runs."""
import numpy as np
from sklearn.cluster import KMeans


def psnr(original, compressed):
    """Peak signal-to-noise ratio in dB between two uint8 RGB arrays of the same shape."""
    error = np.mean((original.astype(np.float64) - compressed.astype(np.float64)) ** 2)
    return 10 * np.log10(255 ** 2 / error)


def best_of_kmeans_psnr(pixels, k, n_init=20, seed=0):
    """PSNR of the best of n_init K-means runs, each pixel mapped to its nearest rounded centroid.

    The runs fit the distinct colours weighted by their pixel counts: the same objective as all pixels.
    """
    colours, index, counts = np.unique(pixels.reshape(-1, 3), axis=0, return_inverse=True, return_counts=True)
    best = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(colours, sample_weight=counts)
    palette = np.rint(best.cluster_centers_)
    nearest = ((colours[:, None, :].astype(float) - palette[None]) ** 2).sum(axis=2).argmin(axis=1)
    return psnr(pixels, palette[nearest][index.ravel()].reshape(pixels.shape))
