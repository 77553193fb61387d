"""Small test images the tests make: test support, not library code."""
import numpy as np


def photo_like(width=48, height=32, seed=1):
    """A small RGB test image: smooth gradients plus noise, so it has many distinct colours."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([255 * x / width, 255 * y / height, 128 + 100 * np.sin(x / 5.0)], axis=-1)
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


def same_image(a, b):
    """Whether two PIL images have the same mode, size, pixels and palette."""
    return a.mode == b.mode and a.size == b.size and a.tobytes() == b.tobytes() and a.getpalette() == b.getpalette()
