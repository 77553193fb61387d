"""Measuring a result against its original: PSNR."""

import numpy as np
from PIL import Image

from ._colors import _CHUNK
from ._read import _cmyk_to_srgb, _native, _upright


def _pil_array(image, name):
    """A PIL image's pixels as psnr compares them: upright by its EXIF orientation, as compress_image reads
    it; RGB or RGBA, with the precision it has (16-bit as uint16, mode F as floats, grayscale as three
    equal channels); a CMYK image with a CMYK profile converted to sRGB through it."""
    image = _upright(image, f"the {name} image")
    if image.mode == "CMYK":
        image = _cmyk_to_srgb(image, f"the {name} image")
    if image.mode == "F" or image.mode.startswith("I"):
        gray = np.asarray(image)
        if image.mode.startswith("I;16"):
            gray = _native(gray).astype(np.uint16)
        elif image.mode == "I":      # 32-bit integers holding 16-bit values, or 8-bit ones, as _read reads it
            gray = np.clip(gray, 0, 65535).astype(np.uint16 if gray.max(initial=0) > 255 else np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    return np.asarray(image.convert("RGBA" if image.has_transparency_data else "RGB"))


def _scaled_array(image, name):
    """An image (array or PIL image) as an array, and the factor that scales its values to 0..255."""
    array = _pil_array(image, name) if isinstance(image, Image.Image) else _native(np.asarray(image))
    if array.dtype == np.uint8:
        return array, 1.0
    if array.dtype == np.uint16:
        return array, 1 / 257
    if np.issubdtype(array.dtype, np.floating):
        low, high = (float(np.min(array)), float(np.max(array))) if array.size else (0.0, 0.0)
        if not (0 <= low and high <= 1):   # also true of NaN, which compares false
            raise ValueError(f"psnr: a float image must hold values in [0, 1], got {name} with values "
                             f"from {low:g} to {high:g}")
        return array, 255.0
    raise TypeError(f"psnr: an image must be uint8, uint16 or float in [0, 1], got {name} "
                    f"of dtype {array.dtype}")


def _premultiplied_block(array, factor, start, stop, alpha):
    """Rows start:stop of an image as float64 in 0..255; with alpha, premultiplied RGB and alpha."""
    block = array[start:stop].astype(np.float64) * factor
    if not alpha:
        return block
    if block.shape[-1] == 3:   # an RGB image compared with an RGBA one counts as opaque
        return np.concatenate([block, np.full(block.shape[:-1] + (1,), 255.0)], axis=-1)
    return np.concatenate([block[..., :3] * (block[..., 3:] / 255), block[..., 3:]], axis=-1)


def _as_color(first, second):
    """Two arrays with grayscale ((H, W) or (H, W, 1)) read as three equal channels when the other image
    has colour ((H, W, 3) or (H, W, 4)), as compress_image reads it; (H, W, 1) as (H, W) otherwise."""
    first, second = (a[..., 0] if a.ndim == 3 and a.shape[-1] == 1 else a for a in (first, second))
    if first.ndim == 2 and second.ndim == 3:
        first = np.repeat(first[..., None], 3, axis=2)
    elif second.ndim == 2 and first.ndim == 3:
        second = np.repeat(second[..., None], 3, axis=2)
    return first, second


def psnr(original, compressed):
    """Peak signal-to-noise ratio in dB of two images (NumPy arrays or PIL images) of the same size.

    Each image is scaled to 0-255 by its dtype (in either byte order): uint8 as is, uint16 / 257, floats
    in [0, 1] times 255. PIL images are read as compress_image reads them: upright by their EXIF
    orientation, a CMYK image with a profile converted through it, then as RGB, or RGBA when they have
    transparency; 16-bit grayscale as uint16 and mode F as floats, their three channels equal. A
    grayscale array, (H, W) or (H, W, 1), compared with a colour image counts as three equal channels.
    For images with an alpha channel (4 channels; a 3-channel image compared with one counts as opaque),
    the error is that of premultiplied colours and alpha: MSE = the sum over pixels of the squared errors
    of R, G and B, each times alpha / 255, and of alpha, divided by 3 x the number of pixels; so an
    opaque image scores as its RGB.
    PSNR = 10 log10(255^2 / MSE), computed in floats; infinite for identical images.

    Examples
    --------
    >>> import numpy as np
    >>> from colorquant import psnr
    >>> a = np.zeros((2, 2, 3), dtype=np.uint8)
    >>> round(psnr(a, a + 1), 2)          # every value off by 1: MSE = 1
    48.13
    """
    (first, first_factor), (second, second_factor) = (_scaled_array(original, "original"),
                                                      _scaled_array(compressed, "compressed"))
    first, second = _as_color(first, second)
    shapes = first.shape, second.shape
    alpha = first.ndim == second.ndim == 3 and 4 in (first.shape[-1], second.shape[-1])
    if alpha and {first.shape[-1], second.shape[-1]} <= {3, 4}:
        shapes = first.shape[:2], second.shape[:2]
    if shapes[0] != shapes[1] or first.ndim < 2:
        raise ValueError(f"psnr needs two image arrays of the same shape, got {first.shape} "
                         f"and {second.shape}")
    rows = max(1, _CHUNK // max(1, first[0].size))
    total = 0.0
    for start in range(0, len(first), rows):
        diff = (_premultiplied_block(first, first_factor, start, start + rows, alpha)
                - _premultiplied_block(second, second_factor, start, start + rows, alpha)).ravel()
        total += float(diff @ diff)
    if total == 0:
        return float("inf")
    values = first.shape[0] * first.shape[1] * 3 if alpha else first.size   # with alpha: 3 x the pixels
    return float(10 * np.log10(255 ** 2 * values / total))


def _indexed_psnr(rgba, alpha, palette, index):
    """psnr of the image palette[index] against uint8 RGBA pixels, block by block: no full copy of either.

    rgba: the (H, W, 4) pixels as read; alpha: whether the image has transparency (then premultiplied
    colours and alpha count, as psnr counts them; else RGB only). palette: (n, 3) or (n, 4) uint8.
    """
    entries = np.asarray(palette, dtype=np.float64)
    if entries.shape[1] == 3:
        entries = np.column_stack([entries, np.full(len(entries), 255.0)])
    entries = _premultiplied_block(entries, 1.0, 0, len(entries), True) if alpha else entries[:, :3]
    channels = 4 if alpha else 3
    rows = max(1, _CHUNK // max(1, rgba[0].size))
    total = 0.0
    for start in range(0, len(rgba), rows):
        block = _premultiplied_block(rgba[start:start + rows], 1.0, 0, rows, alpha)
        diff = (block[..., :channels] - entries[index[start:start + rows]]).ravel()
        total += float(diff @ diff)
    if total == 0:
        return float("inf")
    return float(10 * np.log10(255 ** 2 * rgba.shape[0] * rgba.shape[1] * 3 / total))
