"""Reading the input: a path, a file object, a PIL image or a NumPy array, as RGBA pixels."""
import io
import os
import warnings

import numpy as np
from PIL import Image, ImageOps

_EXIF_ORIENTATION = 0x0112    # the EXIF tag that says how to turn the photo upright
_ICC_COLOR_SPACE = slice(16, 20)   # bytes of an ICC profile's header that name its colour space
_ARRAY_MODES = {1: "L", 3: "RGB", 4: "RGBA"}   # Pillow mode of an array by its number of channels
_SRGB = None              # Pillow's built-in sRGB profile, made when a CMYK profile first needs it


def _scale_16_to_8(values):
    """16-bit values (0..65535) rounded to 8 bits (0..255), as uint8."""
    return ((np.asarray(values, dtype=np.int64) * 255 + 32767) // 65535).astype(np.uint8)


def _native(array):
    """The array in the machine's byte order: a big-endian '>u2' or '>f4' array read by its values."""
    if array.dtype.isnative:
        return array
    return array.astype(array.dtype.newbyteorder("="))


def _array_image(array):
    """A PIL image of a NumPy array (H, W), (H, W, 1), (H, W, 3) or (H, W, 4): uint8, uint16, or float in
    [0, 1], in either byte order. (H, W, 1) is grayscale, as (H, W) is."""
    shape, array = array.shape, _native(array)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.dtype == np.uint8:
        pixels = array
    elif array.dtype == np.uint16:
        pixels = _scale_16_to_8(array)
    elif np.issubdtype(array.dtype, np.floating):
        low, high = (float(np.min(array)), float(np.max(array))) if array.size else (0.0, 0.0)
        if not (0 <= low and high <= 1):   # also true of NaN, which compares false
            hint = "; they look like 0-255: divide the array by 255" if 0 <= low and 1 < high <= 255 else ""
            values = "NaN" if np.isnan(low) or np.isnan(high) else f"values from {low:g} to {high:g}"
            raise ValueError(f"a float array must hold values in [0, 1] (scikit-image's convention), "
                             f"got {values}{hint}")
        pixels = np.rint(array.astype(np.float64) * 255).astype(np.uint8)
    else:
        raise TypeError(f"an image array must have dtype uint8, uint16 or float, got {array.dtype}")
    channels = 1 if array.ndim == 2 else array.shape[-1] if array.ndim == 3 else 0
    if channels not in _ARRAY_MODES or 0 in array.shape:
        raise ValueError("an image array must have shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) with "
                         f"H and W above 0, got shape {shape}")
    return Image.fromarray(np.ascontiguousarray(pixels), _ARRAY_MODES[channels])


def _open_file(file, name):
    """Open and fully decode an image file (a path or a binary file object); errors name it.

    An animated image gives its first frame, with a UserWarning that says so.
    """
    try:
        with Image.open(file) as opened:   # refuses a decompression bomb from its header, before decoding
            frames = getattr(opened, "n_frames", 1)
            opened.load()                  # the pixels stay when the file closes: no copy needed
    except Image.DecompressionBombError as error:
        raise OSError(f"refused image file {name!r}, not decoded: {error}") from error
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise OSError(f"cannot read image file {name!r}: {error}") from error
    if frames > 1:
        warnings.warn(f"{name!r} is animated: only the first of its {frames} frames was used",
                      UserWarning, stacklevel=4)
    return opened


def _orientation(image, name):
    """The image's EXIF orientation (1: upright as stored); a corrupt EXIF block warns and counts as 1."""
    try:
        return image.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception as error:  # noqa: BLE001 - Pillow raises SyntaxError, struct.error... on a bad block
        warnings.warn(f"the EXIF block of {name} is corrupt ({type(error).__name__}: {error}): "
                      "the image is used as stored", UserWarning, stacklevel=5)
        return 1


def _upright(image, name, in_place=False):
    """The image turned upright by its EXIF orientation: itself when it already is (or its EXIF is corrupt).

    in_place: turn this image itself (one that was just read), rather than a copy (the caller's image).
    """
    if _orientation(image, name) == 1:
        return image
    try:
        if in_place:
            ImageOps.exif_transpose(image, in_place=True)
            return image
        return ImageOps.exif_transpose(image)
    except Exception as error:  # noqa: BLE001 - as in _orientation: any failure of a corrupt block
        warnings.warn(f"the EXIF block of {name} is corrupt ({type(error).__name__}: {error}): "
                      "the image is used as stored", UserWarning, stacklevel=4)
        return image


def _float_image(image):
    """A Pillow image in mode F (32-bit floats) read like a float array: values in [0, 1], else ValueError."""
    return _array_image(np.asarray(image, dtype=np.float32))


def _read_image(source):
    """Read a path, binary file object, PIL image or NumPy array as a PIL image, upright by its EXIF.

    Returns the image and a name for messages. A mode F image is read as floats in [0, 1]; a CMYK image
    with a CMYK colour profile is converted to sRGB through it. An image without pixels (0 x H) is a
    ValueError (an OSError for a file).
    """
    if isinstance(source, Image.Image):   # the caller's image: turned upright in a copy, if at all
        image, name = _upright(source, "the given image"), "the given image"
        shown = name
    elif isinstance(source, np.ndarray):
        return _array_image(source), "the given array"
    elif isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        shown = repr(name)
        image = _upright(_open_file(name, name), shown, in_place=True)
    elif hasattr(source, "read"):
        name = getattr(source, "name", None) or f"the given {type(source).__name__}"
        shown = repr(name) if isinstance(name, str) else name
        image = _upright(_open_file(source, name), shown, in_place=True)
    else:
        raise TypeError("source must be a path, a binary file object, a PIL.Image.Image or a NumPy array, "
                        f"got {type(source).__name__}")
    if 0 in image.size:
        error = ValueError if isinstance(source, Image.Image) else OSError
        raise error(f"{shown} has no pixels: it is {image.width} x {image.height}")
    if image.mode == "F":
        image = _float_image(image)
    elif image.mode == "CMYK":
        image = _cmyk_to_srgb(image, shown)
    return image, name


def _cmyk_to_srgb(image, name):
    """A CMYK image with a CMYK ICC profile converted to sRGB through it (Pillow's ImageCms, perceptual
    intent), with no profile left; without one (or with one LittleCMS cannot use, with a UserWarning),
    the image as it is, for Pillow's plain conversion."""
    global _SRGB
    profile = image.info.get("icc_profile")
    if not (isinstance(profile, bytes) and profile[_ICC_COLOR_SPACE] == b"CMYK"):
        return image
    from PIL import ImageCms  # LittleCMS, loaded only for the photos that need it
    try:
        if _SRGB is None:
            _SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
        converted = ImageCms.profileToProfile(image, ImageCms.ImageCmsProfile(io.BytesIO(profile)), _SRGB,
                                              outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError) as error:
        warnings.warn(f"the CMYK colour profile of {name} cannot be used ({error}): its colours are "
                      "converted without it", UserWarning, stacklevel=4)
        return image
    converted.info.pop("icc_profile", None)
    return converted


def _rgb_profile(image):
    """The image's ICC profile if it describes RGB colours (not CMYK or grayscale), else None."""
    profile = image.info.get("icc_profile")
    if isinstance(profile, bytes) and profile[_ICC_COLOR_SPACE] == b"RGB ":
        return profile
    return None


def _png_text(image):
    """A PNG file's text chunks (tEXt, zTXt, iTXt: title, author, copyright, source...) as a dict; else {}."""
    if image.format != "PNG":
        return {}
    return dict(getattr(image, "text", None) or {})


def load_rgb(source):
    """Read an image the way `compress_image` does, as an (H, W, 3) uint8 RGB array (alpha dropped).

    Parameters
    ----------
    source : str, os.PathLike, binary file object, PIL.Image.Image or numpy.ndarray
        Anything `compress_image` accepts. The photo is turned upright by its EXIF orientation;
        16-bit and float images are scaled to 8 bits.

    Returns
    -------
    numpy.ndarray
        The pixels, of shape (H, W, 3) and dtype uint8.

    Raises
    ------
    TypeError, ValueError, OSError
        As `compress_image` does, for the same sources.

    Examples
    --------
    >>> import numpy as np
    >>> from colorquant import load_rgb
    >>> load_rgb(np.full((2, 3), 0.5)).shape      # a float grayscale array in [0, 1]
    (2, 3, 3)
    >>> int(load_rgb(np.full((2, 3), 0.5))[0, 0, 0])
    128
    """
    image, name = _read_image(source)
    return np.ascontiguousarray(_rgba_pixels(image, name)[0][..., :3])


def _rgba_pixels(image, name):
    """Return the pixels as an (H, W, 4) uint8 RGBA array, and whether the image has transparency."""
    if image.mode.startswith("I"):
        # 16-bit grayscale: scale 0..65535 to 0..255 (a plain convert("RGB") clips it to white).
        # Mode "I" (32-bit) holds 16-bit scans too; with no value above 255 it is taken as 8-bit.
        wide = np.clip(np.asarray(image, dtype=np.int64), 0, 65535)
        image = Image.fromarray(_scale_16_to_8(wide) if image.mode != "I" or wide.max() > 255
                                else wide.astype(np.uint8))
    try:
        return np.asarray(image.convert("RGBA")), image.has_transparency_data
    except ValueError as error:
        raise ValueError(f"cannot convert {name} (mode {image.mode}) to RGB: {error}") from error
