"""Quantisation: the palette fitted, every pixel mapped to an entry (or dithered), the result built.

One flow from pixels to file: `_Pixels` holds an image as read, its distinct colours counted once;
`_quantize` gives a `_Quantized` (palette, index, colour profile), from which the P image, the PNG
bytes, the PSNR and the colour count are each taken once. `compress_image` returns its P image; the
command line uses it directly.
"""
import functools

import numpy as np
from PIL import Image

from ._checks import _check_n_colors, _check_seed
from ._colors import (
    _CHUNK,
    _CODE_BITS,
    _RGB_MASK,
    _color_codes,
    _decode_colors,
    _premultiply,
    _unpremultiply,
    _weighted_colors,
)
from ._kmeans import _fit_palette, _threadpools, nearest
from ._metrics import _indexed_psnr
from ._order import _index_counts, _order_palette
from ._png import _indexed_png
from ._read import _read_image, _rgb_profile, _rgba_pixels


def _index_image(codes, distinct, color_to_index, shape):
    """The (H, W) uint8 palette index of every pixel, from its colour code."""
    # Lookup table: one byte for each of the 2**24 possible colour codes (16 MiB), so mapping every pixel
    # to its palette index is a single gather instead of a search per pixel.
    lookup = np.zeros(1 << _CODE_BITS, dtype=np.uint8)
    lookup[distinct] = color_to_index
    index = np.empty(codes.size, dtype=np.uint8)
    for start in range(0, codes.size, _CHUNK):      # in blocks: indexing copies the codes to 64 bits
        np.take(lookup, codes[start:start + _CHUNK] & _RGB_MASK, out=index[start:start + _CHUNK])
    return index.reshape(shape)


def _dither_index(rgba, palette):
    """The (H, W) palette index of every pixel, mapped with Floyd-Steinberg dithering (Pillow's)."""
    palette_holder = Image.new("P", (1, 1))
    palette_holder.putpalette(np.asarray(palette, dtype=np.uint8)[:, :3].ravel().tolist())
    rgb = Image.fromarray(np.ascontiguousarray(rgba[..., :3]))
    return np.asarray(rgb.quantize(palette=palette_holder, dither=Image.Dither.FLOYDSTEINBERG))


def _dither_premultiplied(rgba, palette):
    """The (H, W) palette index of every pixel, with Floyd-Steinberg dithering in premultiplied RGBA.

    Pillow dithers RGB only, so this one runs in NumPy, a wavefront at a time: pixel (y, x) needs the
    errors of (y, x - 1) and of the row above up to x + 1, so all pixels with the same x + 2 y are
    independent. Fully transparent pixels stay on the transparent entry and pass no error on.
    """
    height, width = rgba.shape[:2]
    shown = _premultiply(palette)
    pixels = _premultiply(rgba.reshape(-1, 4)).reshape(height, width, 4)
    clear = rgba[..., 3] == 0
    transparent = np.flatnonzero(palette[:, 3] == 0)
    errors = np.zeros((height + 1, width + 2, 4))   # padded by a row below and a column on each side
    index = np.empty((height, width), dtype=np.uint8)
    for wave in range(width + 2 * height - 2):
        rows = np.arange(max(0, (wave - width + 2) // 2), min(height - 1, wave // 2) + 1)
        columns = wave - 2 * rows
        value = np.clip(pixels[rows, columns] + errors[rows, columns + 1], 0, 255)
        chosen = nearest(value, shown)
        error = value - shown[chosen]
        if len(transparent):
            invisible = clear[rows, columns]
            chosen[invisible], error[invisible] = transparent[0], 0
        index[rows, columns] = chosen
        for row_step, column_step, share in ((0, 1, 7 / 16), (1, -1, 3 / 16), (1, 0, 5 / 16), (1, 1, 1 / 16)):
            errors[rows + row_step, columns + 1 + column_step] += share * error   # each a distinct pixel
    return index


def palette_image(palette, index, alpha=None):
    """A 'P' image from an (n, 3) RGB or (n, 4) RGBA palette and an index array.

    An RGBA palette's alpha is written as the PNG's tRNS chunk when the image is saved as a PNG.
    With alpha (an (H, W) array), the result is instead an 'RGBA' image with this alpha channel.
    """
    palette = np.asarray(palette, dtype=np.uint8)
    index = np.asarray(index)
    if alpha is not None:
        return Image.fromarray(np.dstack([palette[index][..., :3], alpha]))
    height, width = index.shape
    result = Image.frombytes("P", (width, height), index.astype(np.uint8).tobytes())
    if palette.shape[1] == 4:
        result.putpalette(palette.tobytes(), rawmode="RGBA")
    else:
        result.putpalette(palette.ravel().tolist())
    return result


class _Pixels:
    """An image's pixels as read, with what every k needs computed once: its distinct colours and counts.

    rgba: (H, W, 4) uint8; alpha: whether the image has transparency data (then PSNR counts alpha);
    profile: its RGB ICC profile or None. --min-psnr quantizes the same _Pixels for several k.
    """

    def __init__(self, rgba, alpha, profile=None):
        self.rgba, self.alpha, self.profile = rgba, bool(alpha), profile
        self.transparent = self.alpha and bool(rgba[..., 3].min() < 255)

    @classmethod
    def of(cls, image, name):
        """The _Pixels of an image as _read_image gives it (name: for messages)."""
        return cls(*_rgba_pixels(image, name), _rgb_profile(image))

    @functools.cached_property
    def opaque_colors(self):
        """(codes, distinct codes, their (N, 3) RGB colours, weights) of an opaque image."""
        codes = _color_codes(self.rgba)
        return (codes, *_weighted_colors(codes))

    @functools.cached_property
    def transparent_colors(self):
        """(distinct RGBA colours (N, 4), weights, the (H*W,) index of each pixel's colour in them).

        Every invisible pixel counts as transparent black (code 0, which sorts first).
        """
        codes = np.where(self.rgba[..., 3].reshape(-1) > 0, _color_codes(self.rgba), 0)
        distinct, inverse, counts = np.unique(codes, return_inverse=True, return_counts=True)
        del codes
        inverse = inverse.reshape(-1).astype(np.uint32)   # kept for every k: half the size of intp
        return _decode_colors(distinct, alpha=True), counts.astype(np.float64), inverse


class _Quantized:
    """compress_image's result before it is an image or a file: palette, index and colour profile.

    palette: (n, 3) RGB or (n, 4) RGBA uint8 entries, in the order compress_image gives them; index:
    (H, W) uint8; profile: an RGB ICC profile or None. The P image, the PNG bytes, the PSNR and the
    colour count are each taken from it once.
    """

    def __init__(self, palette, index, profile=None):
        self.palette, self.index, self.profile = palette, index, profile

    @functools.cached_property
    def counts(self):
        """How many pixels use each palette entry."""
        return _index_counts(self.index, len(self.palette))

    def image(self):
        """The result as a 'P' image (its profile in ``info["icc_profile"]``): what compress_image returns."""
        result = palette_image(self.palette, self.index)
        if self.profile is not None:
            result.info["icc_profile"] = self.profile
        return result

    def png(self, text=None):
        """The PNG file's bytes, as png_bytes(self.image(), text=text) gives them."""
        return _indexed_png(self.palette, self.index, text=text, profile=self.profile, counts=self.counts)

    def psnr(self, pixels):
        """PSNR in dB of the result against the _Pixels it was made from, as psnr computes it."""
        return _indexed_psnr(pixels.rgba, pixels.alpha, self.palette, self.index)

    def color_count(self):
        """How many distinct colours (RGBA: an entry's alpha counts) the result's pixels show."""
        return len(np.unique(self.palette[self.counts > 0], axis=0))


def _quantize_opaque(pixels, n_colors, seed, dither):
    """Palette ((n, 3) uint8) and (H, W) index of an opaque image, fitted to its RGB colours."""
    rgba = pixels.rgba
    codes, distinct, colors, weights = pixels.opaque_colors
    if len(colors) <= n_colors:            # few colours already: keep them exactly
        palette, color_to_index = colors, np.arange(len(colors))
        dither = False
    else:
        with _threadpools().limit(limits=1):   # small products: extra threads only wait on each other
            centers = _fit_palette(colors, weights, n_colors, seed)
        palette = np.clip(np.rint(centers), 0, 255).astype(np.uint8)
        color_to_index = nearest(colors, palette)
    if dither:
        return palette, _dither_index(rgba, palette)
    return palette, _index_image(codes, distinct, color_to_index, rgba.shape[:2])


def _quantize_transparent(pixels, n_colors, seed, dither):
    """Palette ((n, 4) uint8 RGBA) and (H, W) index of an image with transparency, as pngquant does it.

    Every invisible pixel becomes transparent black, so their colours do not count. With on/off alpha,
    one entry is fully transparent and the others are fitted to the visible colours; with graded alpha,
    K-means runs in premultiplied RGBA (colour times alpha / 255, and alpha), with a fully transparent
    entry held fixed when some pixels are invisible. The transparent entry counts towards n_colors.
    """
    rgba = pixels.rgba
    colors, weights, inverse = pixels.transparent_colors
    clear = colors[0, 3] == 0             # some pixels are invisible: code 0 sorts first
    if len(colors) <= n_colors:           # few colours already: keep them exactly
        palette, color_to_index = colors, np.arange(len(colors))
    elif clear and n_colors > 1 and colors[1:, 3].min() == 255:   # on/off alpha
        with _threadpools().limit(limits=1):
            centers = _fit_palette(colors[1:, :3], weights[1:], n_colors - 1, seed)
        opaque = np.clip(np.rint(centers), 0, 255).astype(np.uint8)
        palette = np.vstack([np.zeros((1, 4), np.uint8),
                             np.column_stack([opaque, np.full(len(opaque), 255)])])
        color_to_index = np.concatenate([[0], 1 + nearest(colors[1:, :3], opaque)])
    else:                                 # graded alpha
        points = _premultiply(colors)
        fixed = np.zeros((1, 4)) if clear and n_colors > 1 else None
        with _threadpools().limit(limits=1):
            centers = _fit_palette(points, weights, n_colors, seed, fixed)
        palette = _unpremultiply(centers)
        color_to_index = nearest(points, _premultiply(palette))   # as the palette's entries show
    index = color_to_index.astype(np.uint8)[inverse].reshape(rgba.shape[:2])
    if dither and len(colors) > n_colors:
        index = _dither_premultiplied(rgba, palette)
    return palette, index


def _quantize(pixels, n_colors, seed, dither):
    """_Pixels quantized to at most n_colors (checked already) with this seed: a _Quantized, ordered."""
    if pixels.transparent:
        palette, index = _quantize_transparent(pixels, n_colors, seed, dither)
    else:
        palette, index = _quantize_opaque(pixels, n_colors, seed, dither)
    palette, index = _order_palette(palette, index)
    return _Quantized(palette, index, pixels.profile)


def compress_image(source, n_colors=16, *, seed=0, dither=False):
    """Return a copy of the photo with at most n_colors colours, chosen by K-means, as a palette image.

    The colours are the centres of a seeded K-means fit on the photo's distinct colours, each weighted
    by its number of pixels (fully transparent pixels do not count), rounded to 8 bits; each pixel gets
    its nearest colour, or a Floyd-Steinberg dithered mix of them. A photo with at most n_colors
    distinct colours is kept exactly.

    Transparency is kept as pngquant keeps it: an opaque RGBA image gives a plain palette; with on/off
    alpha, one palette entry is fully transparent; with graded alpha, the palette's entries carry alpha
    (saved as a PNG's tRNS chunk). A transparent entry counts towards n_colors. The palette is fitted in
    premultiplied RGBA, so fully transparent pixels' colours do not count.

    Parameters
    ----------
    source : str, os.PathLike, binary file object, PIL.Image.Image or numpy.ndarray
        The photo: a path or an open binary file (or ``io.BytesIO``) of any format Pillow reads, a
        Pillow image in any usual mode, or an array of shape (H, W), (H, W, 3) or (H, W, 4) holding
        uint8 (as is), uint16 (scaled to 8 bits) or floats in [0, 1] (scikit-image's convention;
        a Pillow image in mode F is read the same way). A file's EXIF orientation is applied (a
        corrupt EXIF block is ignored with a UserWarning); an animated file gives its first frame,
        with a UserWarning. The source is never changed.
    n_colors : int, default 16
        The most colours the result may have, from 1 to 256.
    seed : int or None, default 0
        The random seed of the K-means starts, from 0 to 2**32 - 1: the same seed gives the same
        image. None gives a random start.
    dither : bool, default False
        Map the photo onto the palette with Floyd-Steinberg dithering instead of the nearest colour.

    Returns
    -------
    PIL.Image.Image
        A mode 'P' image of the source's size (after the EXIF orientation) with at most n_colors
        palette entries. Transparency is kept as palette alpha (the PNG's tRNS chunk): the palette's
        entries are RGBA. An RGB ICC colour profile is kept in ``result.info["icc_profile"]``, so a
        saved PNG shows the same colours; `png_bytes` gives the PNG file.

    Raises
    ------
    TypeError
        When n_colors or seed is not an int (a bool is not one), when source is of another type,
        or when an array's dtype is not uint8, uint16 or float.
    ValueError
        When n_colors or seed is out of range, when an array has another shape, when a float array
        or a mode F image holds values outside [0, 1] (or NaN), or when the image's mode cannot be
        converted to RGB.
    OSError
        When a file is missing, empty, truncated or not an image (the message names it), or when it
        is over Pillow's decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``), which is refused
        before it is decoded.

    See Also
    --------
    png_bytes : the result as the bytes of a small PNG file.
    psnr : the quality of the result against the original.

    Examples
    --------
    >>> import numpy as np
    >>> from colorquant import compress_image
    >>> y, x = np.mgrid[0:32, 0:48]
    >>> photo = np.dstack([x * 5, y * 8, x + y]).astype(np.uint8)    # a small gradient, 1536 colours
    >>> result = compress_image(photo, 8, seed=0)
    >>> result.mode, result.size
    ('P', (48, 32))
    >>> len(result.getcolors())       # distinct colours used
    8
    >>> compress_image(photo, 0)
    Traceback (most recent call last):
    ...
    ValueError: n_colors must be an int from 1 to 256, got 0
    >>> compress_image(photo / 1.0, 8)     # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: a float array must hold values in [0, 1] ...: divide the array by 255
    """
    n_colors = _check_n_colors(n_colors)
    seed = _check_seed(seed)
    pixels = _Pixels.of(*_read_image(source))
    return _quantize(pixels, n_colors, seed, dither).image()
