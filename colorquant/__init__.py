"""Colour compression with K-means: reduce a photo to at most 256 colours and write a small indexed PNG.

The public API (``__all__``):

- `compress_image` : the photo with at most k colours, chosen by K-means (in sRGB or in Oklab), as a
  palette ('P') image; or the photo on a palette you give.
- `compress_images` : several photos with one shared palette (animation frames, sprite sheets).
- `png_bytes` : that image as the bytes of a PNG file, as the command line writes it.
- `psnr` : the peak signal-to-noise ratio of a result against its original, in dB.
- `delta_e` : the mean CIEDE2000 colour difference of a result against its original.
- `load_rgb` : an image read the way `compress_image` reads it, as an (H, W, 3) uint8 array.
- `nearest`, `palette_image` : the two steps the notebook's lesson uses (nearest centre, image from
  a palette and an index).
- `main` : the command line, installed as ``colorquant`` (also ``python -m colorquant``).

Everything else is private (a leading underscore) and may change. Example::

    from colorquant import compress_image, png_bytes
    result = compress_image("photo.jpg", 16, seed=0)            # mode 'P', at most 16 colours
    open("photo_k16.png", "wb").write(png_bytes(result))

The package is laid out by concern, one private module each, in the order a photo goes through them:

- ``_read`` : read a path, file object, PIL image or array as RGBA pixels, upright by its EXIF;
- ``_colors`` : colour codes, distinct colours with their pixel counts, premultiplied alpha;
- ``_oklab`` : sRGB to Oklab and back;
- ``_palette`` : the palette in a space (sRGB or Oklab): fitted, opaque entries kept opaque, given, mapped;
- ``_kmeans`` : weighted K-means on the distinct colours (k-means++ starts, Lloyd's iterations);
- ``_quantize`` : `compress_image`: fit the palette, map every pixel to it (or dither), build the result;
- ``_dither`` : Floyd-Steinberg dithering with a strength (numba, imported only to dither);
- ``_order`` : order the palette so that the PNG compresses well;
- ``_png`` : `png_bytes`, the PNG writer;
- ``_metrics`` : `psnr` and `delta_e`;
- ``_console`` : the installed command's entry point (one thread for BLAS, numba's optional imports kept out);
- ``_cli`` : the command line::

    colorquant [-k N] [--min-psnr DB] [--skip-if-larger] [--seed S] [--dither[=LEVEL]]
               [--space rgb|oklab] [--shared | --palette FILE] [-v]
               [-o OUT | --out-dir DIR] [--force] [--strip] FILE... | -
"""
import importlib as _importlib

from ._version import __version__ as __version__

__all__ = ["compress_image", "compress_images", "delta_e", "load_rgb", "main", "nearest", "palette_image",
           "png_bytes", "psnr"]

# Each public name's module, imported when the name is first used (PEP 562): ``import colorquant`` alone
# loads no NumPy, Pillow or numba, so the command line and a program that imports colorquant start sooner.
_HOMES = {"compress_image": "_quantize", "compress_images": "_quantize", "delta_e": "_metrics",
          "load_rgb": "_read", "main": "_cli", "nearest": "_kmeans", "palette_image": "_quantize",
          "png_bytes": "_png", "psnr": "_metrics"}


def __getattr__(name):
    """A public name, imported from its module on first use and then kept in the package."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
