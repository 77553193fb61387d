"""Quantisation: the palette fitted, every pixel mapped to an entry (or dithered), the result built.

One flow from pixels to file: `_Pixels` holds an image as read, its distinct colours counted once;
`_quantize` gives a `_Quantized` (palette, index, colour profile), from which the P image, the PNG
bytes, the PSNR and the colour count are each taken once. `compress_image` returns its P image; the
command line uses it directly.
"""
import functools
import os

import numpy as np
from PIL import Image

from ._checks import _check_n_colors, _check_seed
from ._colors import (
    _CHUNK,
    _CODE_BITS,
    _RGB_MASK,
    _color_codes,
    _decode_colors,
    _weighted_colors,
)
from ._metrics import _indexed_psnr, _sample, _shown_rgb, _weighted_delta_e
from ._order import _index_counts, _order_palette
from ._palette import (
    _check_dither,
    _check_space,
    _dither,
    _map_colors,
    _opaque_palette,
    _read_palette,
    _transparent_palette,
    _with_alpha,
)
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


def _checked_values(values, name, high, floats=True):
    """values as a uint8 array if they are from 0 to high: integers, or (floats=True) floats, rounded."""
    array = np.asarray(values)
    if array.dtype == np.uint8 and high == 255:
        return array
    kinds = "biuf" if floats else "biu"
    allowed = f"{'numbers' if floats else 'integers'} from 0 to {high}"
    if array.dtype.kind not in kinds:
        raise ValueError(f"{name} values must be {allowed}, got dtype {array.dtype}")
    low, top = (array.min(), array.max()) if array.size else (0, 0)
    if not (0 <= low and top <= high):      # also true of NaN, which compares false
        raise ValueError(f"{name} values must be {allowed}, got values from {low:g} to {top:g}")
    return (np.rint(array) if array.dtype.kind == "f" else array).astype(np.uint8, copy=False)


def palette_image(palette, index, alpha=None):
    """A 'P' image from an (n, 3) RGB or (n, 4) RGBA palette and an index array.

    Parameters
    ----------
    palette : array-like of shape (n, 3) or (n, 4)
        The colours, from 0 to 255, floats rounded (RGB, or RGBA: the alpha is written as the PNG's tRNS
        chunk when the image is saved as a PNG); n from 1 to 256.
    index : array-like of shape (H, W)
        The palette entry of each pixel, integers from 0 to n - 1.
    alpha : array-like of shape (H, W), optional
        An alpha channel, from 0 to 255 (floats rounded): the result is then an 'RGBA' image with it.

    Returns
    -------
    PIL.Image.Image
        Mode 'P' (or 'RGBA' with alpha), of width W and height H.

    Raises
    ------
    ValueError
        When a value is outside its range (it would otherwise wrap around silently) or a shape is wrong.

    Examples
    --------
    >>> import numpy as np
    >>> from colorquant import palette_image
    >>> image = palette_image([[255, 0, 0], [0, 0, 255]], np.array([[0, 1, 1]]))
    >>> image.mode, image.size, image.convert("RGB").getpixel((2, 0))
    ('P', (3, 1), (0, 0, 255))
    >>> palette_image([[256, 0, 0]], np.zeros((1, 1), dtype=int))
    Traceback (most recent call last):
    ...
    ValueError: palette values must be numbers from 0 to 255, got values from 0 to 256
    """
    palette = _checked_values(palette, "palette", 255)
    if palette.ndim != 2 or palette.shape[1] not in (3, 4) or not 1 <= len(palette) <= 256:
        raise ValueError(f"palette must have shape (n, 3) or (n, 4), n from 1 to 256, got {palette.shape}")
    index = _checked_values(index, "index", len(palette) - 1, floats=False)
    if index.ndim != 2:
        raise ValueError(f"index must have shape (H, W), got {index.shape}")
    if alpha is not None:
        alpha = _checked_values(alpha, "alpha", 255)
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

    def __init__(self, palette, index, profile=None, exact=None):
        self.palette, self.index, self.profile = palette, index, profile
        self.exact = exact      # undithered: (distinct colours, their pixel counts, the entry each shows as)

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

    def delta_e(self, pixels):
        """The mean CIEDE2000 difference against the _Pixels, as delta_e computes it, and whether on a sample.

        Undithered it is exact, on the distinct colours weighted by their pixel counts (a colour's
        difference depends only on it and its entry); dithered, on a fixed sample of at most 2**20 pixels.
        """
        alpha = pixels.alpha or self.palette.shape[1] == 4
        if self.exact is not None:
            colors, weights, entries = self.exact
            if alpha:
                colors, entries = _with_alpha(colors), _with_alpha(entries)
            else:
                colors, entries = colors[:, :3], entries[:, :3]
            return _weighted_delta_e(_shown_rgb(colors), _shown_rgb(entries), weights), False
        palette = _with_alpha(self.palette) if alpha else self.palette
        rgba = pixels.rgba.reshape(-1, 4)
        chosen = _sample(len(rgba))
        original = rgba[chosen] if alpha else rgba[chosen, :3]
        return _weighted_delta_e(_shown_rgb(original), _shown_rgb(palette[self.index.reshape(-1)[chosen]])), \
            len(chosen) < len(rgba)

    def color_count(self):
        """How many distinct colours (RGBA: an entry's alpha counts) the result's pixels show."""
        # A set of the used entries' bytes: np.unique(axis=0) would first import numpy.ma (7 ms of a process).
        return len({entry.tobytes() for entry in self.palette[self.counts > 0]})


def _quantize_opaque(pixels, n_colors, seed, dither, space):
    """Palette ((n, 3) uint8) and (H, W) index of an opaque image, fitted to its colours in this space.

    Also the colours' entries, (colors, weights, color_to_index), when the index is not dithered (None when
    it is): delta_e is then exact on the distinct colours.
    """
    rgba = pixels.rgba
    codes, distinct, colors, weights = pixels.opaque_colors
    if len(colors) <= n_colors:            # few colours already: keep them exactly
        palette, color_to_index = colors, np.arange(len(colors))
        dither = 0
    else:
        palette, color_to_index = _opaque_palette(colors, weights, n_colors, seed, space)
    if dither:
        return palette, _dither(rgba, palette, dither, space), None
    return (palette, _index_image(codes, distinct, color_to_index, rgba.shape[:2]),
            (colors, weights, color_to_index))


def _quantize_transparent(pixels, n_colors, seed, dither, space):
    """Palette ((n, 4) uint8 RGBA) and (H, W) index of an image with transparency, as pngquant does it.

    Every invisible pixel becomes transparent black, so their colours do not count. With on/off alpha,
    one entry is fully transparent and the others are fitted to the visible colours; with graded alpha,
    K-means runs on premultiplied points (colour times alpha / 255, and alpha), with a fully transparent
    entry held fixed when some pixels are invisible. The transparent entry counts towards n_colors.
    Opaque stays opaque: pixels with alpha 255 get entries with alpha 255 (_palette._snap_opaque), and
    invisible ones the transparent entry. Also (colors, weights, color_to_index) as _quantize_opaque.
    """
    rgba = pixels.rgba
    colors, weights, inverse = pixels.transparent_colors
    if len(colors) <= n_colors:           # few colours already: keep them exactly
        palette, color_to_index = colors, np.arange(len(colors))
        dither = 0
    else:
        palette, color_to_index = _transparent_palette(colors, weights, n_colors, seed, space)
    if dither:
        return palette, _dither(rgba, palette, dither, space), None
    index = color_to_index.astype(np.uint8)[inverse].reshape(rgba.shape[:2])
    return palette, index, (colors, weights, color_to_index)


def _quantize_given(pixels, palette, dither, space):
    """Index of the image on a given palette ((n, 3) or (n, 4) uint8) in this space: no fit, no reordering."""
    rgba = pixels.rgba
    if dither:
        return palette, _dither(rgba, palette, dither, space), None
    if pixels.transparent:
        colors, weights, inverse = pixels.transparent_colors
        color_to_index = _map_colors(colors, palette, space)
        return palette, color_to_index.astype(np.uint8)[inverse].reshape(rgba.shape[:2]), \
            (colors, weights, color_to_index)
    codes, distinct, colors, weights = pixels.opaque_colors
    color_to_index = _map_colors(colors, palette, space)
    return (palette, _index_image(codes, distinct, color_to_index, rgba.shape[:2]),
            (colors, weights, color_to_index))


def _shown(exact, palette):
    """(colors, weights, entries): the distinct colours, their pixel counts and the entries shown; or None."""
    if exact is None:
        return None
    colors, weights, color_to_index = exact
    return colors, weights, np.asarray(palette)[color_to_index]


def _quantize(pixels, n_colors, seed, dither, space="rgb", palette=None):
    """_Pixels quantized to at most n_colors (checked already) with this seed: a _Quantized, ordered.

    dither: the strength, 0 to 1 (checked already); space: 'rgb' or 'oklab'; palette: a given palette
    ((n, 3) or (n, 4) uint8, checked already), used as it is and in its order (n_colors is then unused).
    """
    if palette is not None:
        palette, index, exact = _quantize_given(pixels, palette, dither, space)
        return _Quantized(palette, index, pixels.profile, _shown(exact, palette))
    if pixels.transparent:
        palette, index, exact = _quantize_transparent(pixels, n_colors, seed, dither, space)
    else:
        palette, index, exact = _quantize_opaque(pixels, n_colors, seed, dither, space)
    ordered, index = _order_palette(palette, index)
    return _Quantized(ordered, index, pixels.profile, _shown(exact, palette))


def compress_image(source, n_colors=16, *, seed=0, dither=False, space="rgb", palette=None):
    """Return a copy of the photo with at most n_colors colours, chosen by K-means, as a palette image.

    The colours are the centres of a seeded K-means fit on the photo's distinct colours, each weighted
    by its number of pixels (fully transparent pixels do not count), rounded to 8 bits; each pixel gets
    its nearest colour, or a Floyd-Steinberg dithered mix of them. A photo with at most n_colors
    distinct colours is kept exactly. The fit and the nearest colour are measured in sRGB values
    (``space="rgb"``, the default: the best PSNR) or in the perceptual Oklab space (``space="oklab"``:
    the lower CIEDE2000 difference, `delta_e`). With ``palette=``, no fit: the photo is mapped onto
    the given colours, in their order.

    Transparency is kept as pngquant keeps it: an opaque RGBA image gives a plain palette; with on/off
    alpha, one palette entry is fully transparent; with graded alpha, the palette's entries carry alpha
    (saved as a PNG's tRNS chunk). A transparent entry counts towards n_colors. The palette is fitted in
    premultiplied RGBA (in Oklab: Oklab times alpha / 255, and alpha), so fully transparent pixels'
    colours do not count. Opaque stays opaque and invisible stays invisible: every pixel with alpha 255
    gets an entry with alpha 255, and every pixel with alpha 0 an entry with alpha 0.

    Parameters
    ----------
    source : str, os.PathLike, binary file object, PIL.Image.Image or numpy.ndarray
        The photo: a path or an open binary file (or ``io.BytesIO``) of any format Pillow reads, a
        Pillow image in any usual mode, or an array of shape (H, W) or (H, W, 1) (grayscale), (H, W, 3)
        or (H, W, 4) holding uint8 (as is), uint16 (scaled to 8 bits) or floats in [0, 1]
        (scikit-image's convention; a Pillow image in mode F is read the same way), in either byte
        order. A file's EXIF orientation is applied (a corrupt EXIF block is ignored with a
        UserWarning); an animated file gives its first frame, with a UserWarning. A CMYK image with a
        CMYK colour profile is converted to sRGB through it. The source is never changed.
    n_colors : int, default 16
        The most colours the result may have, from 1 to 256.
    seed : int or None, default 0
        The random seed of the K-means starts, from 0 to 2**32 - 1: the same seed gives the same
        image. None gives a random start.
    dither : float or bool, default False
        Floyd-Steinberg dithering strength from 0 to 1: the error passed on to the neighbours is times
        this number (pngquant's ``--floyd``). True is 1, False and 0 give the nearest colour exactly. The
        error is diffused in the space of ``space`` (premultiplied with alpha).
    space : {"rgb", "oklab"}, default "rgb"
        Where the palette is fitted and each colour's nearest entry is measured: sRGB values, or Oklab
        (Björn Ottosson's perceptual space). "oklab" gives a lower mean CIEDE2000 difference and a lower
        PSNR; the README's tables compare them.
    palette : array_like or PIL.Image.Image, optional
        Colours to map onto instead of fitting: (n, 3) RGB or (n, 4) RGBA rows of ints from 0 to 255
        (1 to 256 rows), or an image: a 'P' image's palette in its order, otherwise its distinct colours
        (at most 256). The result's palette is these rows in this order; n_colors and seed are unused.

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
        When n_colors or seed is out of range, when an array has another shape, when an array or a
        Pillow image has no pixels (0 x H), when a float array or a mode F image holds values outside
        [0, 1] (or NaN), when the image's mode cannot be converted to RGB, when dither is not from 0
        to 1, when space is unknown, or when a palette has no rows, more than 256 or values outside
        0..255.
    OSError
        When a file is missing, empty, truncated, not an image or without pixels (the message names
        it), or when it is over Pillow's decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``),
        which is refused before it is decoded.

    See Also
    --------
    png_bytes : the result as the bytes of a small PNG file.
    psnr, delta_e : the quality of the result against the original.
    compress_images : several photos with one shared palette.

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
    >>> compress_image(photo, 8, space="oklab", dither=0.5).size     # perceptual, half-strength dithering
    (48, 32)
    >>> given = compress_image(photo, palette=[[0, 0, 0], [255, 255, 255], [255, 0, 0]])
    >>> given.getpalette()            # the given colours, in their order
    [0, 0, 0, 255, 255, 255, 255, 0, 0]
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
    dither, space = _check_dither(dither), _check_space(space)
    palette = None if palette is None else _read_palette(palette)
    pixels = _Pixels.of(*_read_image(source))
    return _quantize(pixels, n_colors, seed, dither, space, palette).image()


def _quantize_shared(all_pixels, n_colors, seed, dither, space):
    """_Pixels of several images quantized with one palette fitted to their pooled pixels: _Quantized each.

    Each image weighs by its pixel count. When any has transparency, the pooled colours are RGBA (an
    opaque image's alpha 255) and the palette has alpha. The palette is ordered once, on all the indices.
    """
    if any(pixels.transparent for pixels in all_pixels):
        codes = [np.where(pixels.rgba[..., 3].reshape(-1) > 0, _color_codes(pixels.rgba), 0)
                 for pixels in all_pixels]
        distinct, counts = np.unique(np.concatenate(codes), return_counts=True)
        colors, weights = _decode_colors(distinct, alpha=True), counts.astype(np.float64)
        if len(colors) <= n_colors:
            palette, color_to_index = colors, np.arange(len(colors))
            dither = 0
        else:
            palette, color_to_index = _transparent_palette(colors, weights, n_colors, seed, space)
        lookup = color_to_index.astype(np.uint8)
        indices = [lookup[np.searchsorted(distinct, image_codes)].reshape(pixels.rgba.shape[:2])
                   for image_codes, pixels in zip(codes, all_pixels, strict=True)]
    else:
        codes = [pixels.opaque_colors[0] for pixels in all_pixels]
        distinct, colors, weights = _weighted_colors(np.concatenate(codes))
        if len(colors) <= n_colors:
            palette, color_to_index = colors, np.arange(len(colors))
            dither = 0
        else:
            palette, color_to_index = _opaque_palette(colors, weights, n_colors, seed, space)
        indices = [_index_image(image_codes, distinct, color_to_index, pixels.rgba.shape[:2])
                   for image_codes, pixels in zip(codes, all_pixels, strict=True)]
    del codes
    if dither:
        indices = [_dither(pixels.rgba, palette, dither, space) for pixels in all_pixels]
    # One order for all: the indices side by side in one array (each padded to the widest with its own
    # edge, which adds no new neighbours), so that the order serves every image.
    width = max(index.shape[1] for index in indices)
    stacked = np.vstack([np.pad(index, ((0, 0), (0, width - index.shape[1])), mode="edge")
                         for index in indices])
    ordered, stacked = _order_palette(palette, stacked)
    results, row = [], 0
    for index, pixels in zip(indices, all_pixels, strict=True):
        height, image_width = index.shape
        results.append(_Quantized(ordered, np.ascontiguousarray(stacked[row:row + height, :image_width]),
                                  pixels.profile))
        row += height
    return results


def _read_all(sources):
    """The _Pixels of each source (a list or other iterable, not one path or image), checked not empty."""
    if isinstance(sources, str | bytes | os.PathLike | Image.Image | np.ndarray):
        raise TypeError(f"sources must be a list of images, got one {type(sources).__name__}; "
                        "use compress_image for a single image")
    sources = list(sources)
    if not sources:
        raise ValueError("sources is empty: compress_images needs at least one image")
    return [_Pixels.of(*_read_image(source)) for source in sources]


def compress_images(sources, n_colors=16, *, seed=0, dither=False, space="rgb"):
    """Return copies of several photos with one shared palette of at most n_colors colours, chosen by K-means.

    The palette is fitted as `compress_image` fits it, on the pooled pixels of all the photos (each weighs
    by its number of pixels), so the frames of an animation or the sprites of a sheet share their colours.
    Every result has the full palette, in the same order (entries one image does not use included).
    Opaque and transparent photos may be mixed: then the palette has alpha, and opaque photos use only
    its opaque entries.

    Parameters
    ----------
    sources : list of sources
        The photos, each of a kind `compress_image` reads (path, file object, PIL image or array).
    n_colors, seed, dither, space
        As in `compress_image`.

    Returns
    -------
    list of PIL.Image.Image
        One mode 'P' image per source, in the same order, all with the same palette.

    Raises
    ------
    TypeError, ValueError, OSError
        As `compress_image`, naming the source at fault; ValueError when sources is empty, TypeError
        when it is a single image rather than a list.

    See Also
    --------
    compress_image : one photo with a palette of its own, or on a given palette.

    Examples
    --------
    >>> import numpy as np
    >>> from colorquant import compress_images
    >>> y, x = np.mgrid[0:32, 0:48]
    >>> frames = [np.dstack([x * 5, y * 8, np.full_like(x, 40 * t)]).astype(np.uint8) for t in range(3)]
    >>> results = compress_images(frames, 8, seed=0)
    >>> len(results), {tuple(result.getpalette()) for result in results} == {tuple(results[0].getpalette())}
    (3, True)
    """
    n_colors = _check_n_colors(n_colors)
    seed = _check_seed(seed)
    dither, space = _check_dither(dither), _check_space(space)
    return [result.image() for result in _quantize_shared(_read_all(sources), n_colors, seed, dither, space)]
