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


# --- delta_e: the mean CIEDE2000 colour difference ---------------------------------------------------

_XYZ_FROM_RGB = np.array([[0.412453, 0.357580, 0.180423],    # linear sRGB to CIE XYZ, as scikit-image has it
                          [0.212671, 0.715160, 0.072169],
                          [0.019334, 0.119193, 0.950227]])
_WHITE_D65 = np.array([0.95047, 1.0, 1.08883])              # D65, 2-degree observer
_SAMPLE_PIXELS = 1 << 20                                    # the most pixels _sample gives


def _cielab(rgb):
    """(N, 3) sRGB values in 0..255 (floats) as CIELAB (D65, 2-degree observer), as scikit-image's rgb2lab."""
    c = np.asarray(rgb, dtype=np.float64) / 255
    linear = np.where(c > 0.04045, ((np.maximum(c, 0.04045) + 0.055) / 1.055) ** 2.4, c / 12.92)
    xyz = linear @ _XYZ_FROM_RGB.T / _WHITE_D65
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.column_stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])])


def _hue(a, b):
    """Hue angle in radians, in 0..2 pi, and chroma."""
    angle = np.arctan2(b, a)
    return np.hypot(a, b), angle + np.where(angle < 0, 2 * np.pi, 0)


def _ciede2000(lab1, lab2):
    """CIEDE2000 difference of each row of two (N, 3) CIELAB arrays (Sharma, Wu and Dalal 2005; kL = kC = kH
    = 1), with scikit-image's conventions for hues where a chroma is 0."""
    (l1, a1, b1), (l2, a2, b2) = lab1.T, lab2.T
    mean_chroma7 = (0.5 * (np.hypot(a1, b1) + np.hypot(a2, b2))) ** 7
    stretch = 1 + 0.5 * (1 - np.sqrt(mean_chroma7 / (mean_chroma7 + 25.0 ** 7)))
    (c1, h1), (c2, h2) = _hue(a1 * stretch, b1), _hue(a2 * stretch, b2)
    lightness = 0.5 * (l1 + l2)
    lightness_term = (l2 - l1) / (1 + 0.015 * (lightness - 50) ** 2 / np.sqrt(20 + (lightness - 50) ** 2))
    chroma = 0.5 * (c1 + c2)
    chroma_term = (c2 - c1) / (1 + 0.045 * chroma)
    product = c1 * c2
    gap = h2 - h1
    wrapped = np.where(gap > np.pi, gap - 2 * np.pi, np.where(gap < -np.pi, gap + 2 * np.pi, gap))
    wrapped = np.where(product == 0, 0.0, wrapped)
    total = h1 + h2
    far = (product != 0) & (np.abs(gap) > np.pi)
    hue = np.where(far, np.where(total < 2 * np.pi, total + 2 * np.pi, total - 2 * np.pi), total)
    hue = 0.5 * np.where(product == 0, 2 * hue, hue)
    t = (1 - 0.17 * np.cos(hue - np.deg2rad(30)) + 0.24 * np.cos(2 * hue)
         + 0.32 * np.cos(3 * hue + np.deg2rad(6)) - 0.20 * np.cos(4 * hue - np.deg2rad(63)))
    hue_term = 2 * np.sqrt(product) * np.sin(wrapped / 2) / (1 + 0.015 * chroma * t)
    chroma7 = chroma ** 7
    rotation = np.deg2rad(30) * np.exp(-(((np.rad2deg(hue) - 275) / 25) ** 2))
    rotation_scale = 2 * np.sqrt(chroma7 / (chroma7 + 25.0 ** 7))
    rotation_term = -np.sin(2 * rotation) * rotation_scale * chroma_term * hue_term
    squared = lightness_term ** 2 + chroma_term ** 2 + hue_term ** 2 + rotation_term
    return np.sqrt(np.maximum(squared, 0))


def _weighted_delta_e(original, compressed, weights=None):
    """The (weighted) mean CIEDE2000 difference of rows of two (N, 3) sRGB arrays in 0..255, in blocks."""
    total, step = 0.0, 1 << 16
    for start in range(0, len(original), step):
        block = slice(start, start + step)
        difference = _ciede2000(_cielab(original[block]), _cielab(compressed[block]))
        total += float(difference.sum() if weights is None else difference @ weights[block])
    return total / (len(original) if weights is None else float(np.sum(weights)))


def _shown_rgb(rows):
    """(N, 3) RGB or (N, 4) RGBA rows in 0..255 as the RGB they show over black (colour times alpha / 255)."""
    rows = np.asarray(rows, dtype=np.float64)
    return rows if rows.shape[1] == 3 else rows[:, :3] * (rows[:, 3:] / 255)


def _sample(n_pixels):
    """The fixed sample of pixels a dithered result's delta_e is measured on: all, or 2**20 evenly spaced."""
    if n_pixels <= _SAMPLE_PIXELS:
        return np.arange(n_pixels)
    return np.linspace(0, n_pixels - 1, _SAMPLE_PIXELS).astype(np.intp)


def delta_e(original, compressed):
    """Mean CIEDE2000 colour difference of two images (NumPy arrays or PIL images) of the same size.

    Both images are read as `psnr` reads them (scaled to 0-255 by their dtype; PIL images as RGB, or RGBA
    when they have transparency), converted from sRGB to CIELAB (D65 white, 2-degree observer) and
    compared pixel by pixel with the CIEDE2000 formula (kL = kC = kH = 1); the result is the mean over
    all pixels. It equals ``skimage.color.deltaE_ciede2000(rgb2lab(a), rgb2lab(b)).mean()``, computed
    without scikit-image, on each distinct pair of colours once (weighted by its pixel count).

    Transparency: an image with an alpha channel counts as shown over black (its colour times
    alpha / 255), as `psnr`'s premultiplied colours do; a 3-channel image compared with one counts as
    opaque. Invisible pixels so count as black in both and add no difference.

    Roughly: below 1 is not seen, 1 to 2 is seen by a close look, 2 to 10 at a glance.

    Examples
    --------
    >>> import numpy as np
    >>> from colorquant import delta_e
    >>> gray = np.full((2, 2, 3), 128, dtype=np.uint8)
    >>> delta_e(gray, gray)
    0.0
    >>> round(delta_e(gray, gray + 2), 3)     # every pixel two levels lighter
    0.753
    """
    (first, first_factor), (second, second_factor) = (_scaled_array(original, "original"),
                                                      _scaled_array(compressed, "compressed"))
    if first.ndim != 3 or second.ndim != 3 or first.shape[:2] != second.shape[:2] \
            or not {first.shape[-1], second.shape[-1]} <= {3, 4}:
        raise ValueError(f"delta_e needs two RGB or RGBA images of the same size, got shapes {first.shape} "
                         f"and {second.shape}")
    if first.shape[-1] != second.shape[-1]:   # one RGB, one RGBA: the RGB one is opaque
        first, second = (np.concatenate([image, np.full(image.shape[:2] + (1,), 255 / factor, image.dtype)],
                                        axis=-1) if image.shape[-1] == 3 else image
                         for image, factor in ((first, first_factor), (second, second_factor)))
    if first.dtype == second.dtype == np.uint8:   # each distinct pair of colours once, with its count
        codes = [np.ascontiguousarray(image.reshape(-1, image.shape[-1])) for image in (first, second)]
        if codes[0].shape[1] == 3:
            codes = [np.pad(rows, ((0, 0), (0, 1))) for rows in codes]
        pairs = codes[0].view("<u4").ravel().astype(np.uint64) << np.uint64(32)
        pairs |= codes[1].view("<u4").ravel()
        distinct, counts = np.unique(pairs, return_counts=True)
        channels = first.shape[-1]
        rows = [((distinct >> np.uint64(shift)) & np.uint64(255)).astype(np.float64)
                for shift in (32, 40, 48, 56, 0, 8, 16, 24)]
        a, b = np.column_stack(rows[:channels]), np.column_stack(rows[4:4 + channels])
        return _weighted_delta_e(_shown_rgb(a), _shown_rgb(b), counts.astype(np.float64))
    a = first.reshape(-1, first.shape[-1]) * first_factor
    b = second.reshape(-1, second.shape[-1]) * second_factor
    return _weighted_delta_e(_shown_rgb(a), _shown_rgb(b))
