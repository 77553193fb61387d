"""The PNG writer: palette PNGs through oxipng (pyoxipng), everything else through Pillow."""
import io

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from ._order import _index_counts
from ._read import _ICC_COLOR_SPACE, _cmyk_to_srgb, _rgb_profile

# oxipng's effort, tuned with benchmarks/png_size.py: level 2 (the row filters tried quickly, the best
# compressed by libdeflate at level 11) with filters None and Entropy: on those cases as small as level 2's
# default four filters (None, Sub, Entropy, Bigrams), in 15 % less time; level 4 saves up to 2 % more in
# 4 to 10 times the time. Above _FULL_EFFORT_PIXELS, level 1 and filter None only: on a 24-megapixel
# photo at k = 16, 3.4 s of CPU time for a file 7 % smaller than pngquant's, where level 2 with filters
# None and Entropy takes 7.4 s (11 % smaller still), too long beside pngquant's 12 to 18 s for all of it.
_FULL_EFFORT_PIXELS = 1 << 22
_TEXT_KEY_BYTES = 79       # a PNG text keyword is 1 to 79 Latin-1 bytes
_PILLOW_PNG_MODES = {"1", "L", "LA", "I;16", "I;16B", "P", "RGB", "RGBA"}   # what Pillow writes as PNG
_GRAY_MODES = {"1", "L", "LA", "I;16", "I;16B"}


def _indexed(image):
    """A P image's (palette, index): the palette as (n, 4) RGBA uint8 covering every index; else None."""
    if image.mode != "P" or not image.getpalette():
        return None
    palette = np.array(image.getpalette(rawmode="RGBA"), dtype=np.uint8).reshape(-1, 4)
    transparency = image.info.get("transparency")   # an RGB palette's alpha, as a PNG file gives it
    if isinstance(transparency, bytes):
        palette[: len(transparency), 3] = np.frombuffer(transparency, np.uint8)[: len(palette)]
    elif isinstance(transparency, int) and transparency < len(palette):
        palette[transparency, 3] = 0
    index = np.asarray(image)
    top = int(index.max(initial=0)) + 1
    if top > len(palette):   # indices past the palette's end show opaque black, as in Pillow
        palette = np.vstack([palette, np.tile(np.array([0, 0, 0, 255], np.uint8), (top - len(palette), 1))])
    return palette, index


def _drop_unused(palette, index, counts=None):
    """The palette without the entries no pixel uses, and the index renumbered; the order kept.

    counts: how many pixels use each entry, when already known (else they are counted here).
    """
    used = (_index_counts(index, len(palette)) if counts is None else np.asarray(counts)) > 0
    if used.all():
        return palette, index
    position = np.cumsum(used, dtype=np.intp) - 1
    return palette[used], position.astype(np.uint8)[index]


def _text_chunks(text):
    """PNG chunks (name, data) for a dict of texts: tEXt when Latin-1, else iTXt (UTF-8)."""
    chunks = []
    for key, value in (text or {}).items():
        try:
            keyword = str(key).encode("latin-1")
        except UnicodeEncodeError:
            keyword = b""
        if not 1 <= len(keyword) <= _TEXT_KEY_BYTES:
            raise ValueError(f"a PNG text key must be 1 to {_TEXT_KEY_BYTES} Latin-1 characters, got {key!r}")
        if isinstance(value, bytes):   # as Pillow's PngInfo.add_text takes it: stored as it is
            chunks.append((b"tEXt", keyword + b"\0" + value))
            continue
        value = str(value)
        try:
            chunks.append((b"tEXt", keyword + b"\0" + value.encode("latin-1")))
        except UnicodeEncodeError:
            chunks.append((b"iTXt", keyword + b"\0\0\0\0\0" + value.encode("utf-8")))
    return chunks


def _oxipng():
    """The oxipng module (package pyoxipng), or None where it is not installed."""
    try:
        import oxipng
    except ImportError:
        return None
    return oxipng


def _pillow_png(image, text):
    """The PNG file Pillow writes (optimize=True), for any mode: others (PA, CMYK, ...) as RGB(A).

    A CMYK image with a CMYK profile is converted to sRGB through it; a profile is kept only when it
    describes the colours written (RGB for colour, GRAY for grayscale).
    """
    if image.mode == "CMYK":
        image = _cmyk_to_srgb(image, "the given image")
    if image.mode not in _PILLOW_PNG_MODES:
        image = image.convert("RGBA" if image.has_transparency_data else "RGB")
    profile = image.info.get("icc_profile")
    gray = image.mode in _GRAY_MODES
    if not (isinstance(profile, bytes) and profile[_ICC_COLOR_SPACE] == (b"GRAY" if gray else b"RGB ")):
        profile = None
    info = None
    if text:
        info = PngInfo()
        for key, value in text.items():
            info.add_text(key, value)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True, pnginfo=info, icc_profile=profile)
    return buffer.getvalue()


def png_bytes(image, *, text=None):
    """The PNG file of a PIL image, as bytes: what the command line writes.

    A palette image (mode P, with or without alpha in its palette) becomes a palette PNG with exactly its
    pixels' colours and alphas: the entries no pixel uses are dropped, the others keep their order
    (compress_image orders them for compression), and oxipng (package pyoxipng) picks the bit depth
    (1, 2, 4 or 8), the row filters and the compression. Other modes are written by Pillow as they are
    (modes PNG cannot hold, such as CMYK, as RGB or RGBA), and so are palette images where pyoxipng is
    not installed.

    Parameters
    ----------
    image : PIL.Image.Image
        The image to write.
    text : dict of str to str, optional
        PNG text chunks to store in the file, such as a credit: keys of 1 to 79 Latin-1 characters;
        values in Latin-1 go to tEXt chunks, others to iTXt (UTF-8).

    Returns
    -------
    bytes
        The PNG file. An RGB ICC profile in ``image.info["icc_profile"]`` is kept.

    Examples
    --------
    >>> import io
    >>> import numpy as np
    >>> from PIL import Image
    >>> from colorquant import compress_image, png_bytes
    >>> photo = Image.fromarray(np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1)), "L").convert("RGB")
    >>> result = compress_image(photo, 4, seed=0)
    >>> data = png_bytes(result, text={"Title": "a grey ramp, 4 colours"})
    >>> written = Image.open(io.BytesIO(data))
    >>> written.mode, written.info["Title"], len(data) < 200
    ('P', 'a grey ramp, 4 colours', True)
    """
    indexed = _indexed(image) if _oxipng() is not None else None
    if indexed is None:
        return _pillow_png(image, text)
    return _indexed_png(*indexed, text=text, profile=_rgb_profile(image))


def _indexed_png(palette, index, *, text=None, profile=None, counts=None):
    """The palette PNG of a palette ((n, 3) RGB or (n, 4) RGBA uint8) and an (H, W) index: png_bytes's writer.

    Unused entries are dropped (counts: how many pixels use each entry, when already known); profile: an
    RGB ICC profile to store. Without pyoxipng, or should oxipng fail, Pillow writes the same pixels.
    """
    oxipng = _oxipng()
    palette = np.asarray(palette, dtype=np.uint8)
    if palette.shape[1] == 3:
        palette = np.column_stack([palette, np.full(len(palette), 255, np.uint8)])
    palette, index = _drop_unused(palette, index, counts)
    if oxipng is None:
        return _pillow_png(_p_image(palette, index, profile), text)
    chunks = _text_chunks(text)
    height, width = index.shape
    raw = oxipng.RawImage(np.ascontiguousarray(index, dtype=np.uint8).tobytes(), width, height,
                          color_type=oxipng.ColorType.indexed(palette.tolist()))
    for name, data in chunks:
        raw.add_png_chunk(name, data)
    if profile is not None:
        raw.add_icc_profile(profile)
    options = {"level": 2, "filter": [oxipng.RowFilter.NoOp, oxipng.RowFilter.Entropy]}
    if width * height > _FULL_EFFORT_PIXELS:
        options = {"level": 1, "filter": [oxipng.RowFilter.NoOp]}
    # palette_reduction would re-sort the palette (often to a larger file) and write other colours' order
    try:
        return raw.create_optimized_png(palette_reduction=False, **options)
    except oxipng.PngError:   # not seen on any input; Pillow writes the same pixels, only less small
        return _pillow_png(_p_image(palette, index, profile), text)


def _p_image(palette, index, profile=None):
    """A P image of an (n, 4) RGBA uint8 palette and an (H, W) index, with an RGB ICC profile if given."""
    height, width = index.shape
    image = Image.frombytes("P", (width, height), np.ascontiguousarray(index, dtype=np.uint8).tobytes())
    image.putpalette(np.ascontiguousarray(palette, dtype=np.uint8).tobytes(), rawmode="RGBA")
    if profile is not None:
        image.info["icc_profile"] = profile
    return image
