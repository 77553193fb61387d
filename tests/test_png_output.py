"""The PNG writer: png_bytes keeps every pixel's colour (and alpha), texts and the ICC profile, writes small
palette PNGs; _order_palette only permutes the palette."""
import io
import zlib

import numpy as np
import pytest
from PIL import Image, ImageCms

import colorquant
import colorquant._cli
import colorquant._png
from colorquant import compress_image, png_bytes
from colorquant._order import _order_palette
from pictures import photo_like

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chunks(data):
    """The PNG file's chunks as a list of (type, data)."""
    assert data[:8] == PNG_SIGNATURE
    found, position = [], 8
    while position < len(data):
        length = int.from_bytes(data[position:position + 4], "big")
        kind = data[position + 4:position + 8].decode("ascii")
        found.append((kind, data[position + 8:position + 8 + length]))
        position += 12 + length
    return found


def header(data):
    """(bit depth, colour type) from the IHDR chunk."""
    kind, body = chunks(data)[0]
    assert kind == "IHDR"
    return body[8], body[9]


def decoded(data):
    with Image.open(io.BytesIO(data)) as image:
        image.load()
    return image


def rgba(image):
    return np.asarray(image.convert("RGBA"))


def palette_picture(palette, index):
    """A P image whose palette is the (n, 3) or (n, 4) uint8 array, as compress_image builds it."""
    palette = np.asarray(palette, dtype=np.uint8)
    image = Image.frombytes("P", index.shape[::-1], np.asarray(index, dtype=np.uint8).tobytes())
    image.putpalette(palette.tobytes(), rawmode="RGBA" if palette.shape[1] == 4 else "RGB")
    return image


def smooth_index(n, width=60, height=40, seed=0):
    """An (H, W) index array over n entries: bands along a gradient, with some noise, all entries used."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    level = (x + y) / (width + height - 2) * (n - 1) + rng.normal(0, 0.7, (height, width))
    index = np.clip(np.rint(level), 0, n - 1).astype(np.uint8)
    index.flat[:n] = np.arange(n)
    return index


def random_palette(n, alpha=None, seed=0):
    colors = np.random.default_rng(seed).integers(0, 256, size=(n, 3), dtype=np.uint8)
    if alpha is None:
        return colors
    return np.column_stack([colors, np.asarray(alpha, dtype=np.uint8)])


def photo_quantized(n, width=160, height=120):
    """A photo-like test image reduced to n colours by Pillow (median cut, no dithering)."""
    photo = Image.fromarray(photo_like(width, height))
    return photo.quantize(n, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)


# --- the pixels -------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [2, 16, 200])
def test_rgb_palette_gives_a_palette_png_with_the_same_pixels(n):
    image = palette_picture(random_palette(n), smooth_index(n))
    data = png_bytes(image)
    written = decoded(data)
    assert written.mode == "P" and header(data)[1] == 3
    assert np.array_equal(rgba(written), rgba(image))
    assert "tRNS" not in dict(chunks(data))


def test_graded_alpha_is_kept_in_a_short_trns_chunk():
    n = 40
    alpha = np.full(n, 255)
    alpha[:10] = np.linspace(0, 230, 10)
    palette, index = _order_palette(random_palette(n, alpha), smooth_index(n))
    image = palette_picture(palette, index)
    data = png_bytes(image)
    assert decoded(data).mode == "P"
    assert np.array_equal(rgba(decoded(data)), rgba(image))
    assert len(dict(chunks(data))["tRNS"]) == 10   # the non-opaque entries come first


def test_on_off_alpha_is_kept():
    n = 8
    alpha = np.full(n, 255)
    alpha[5] = 0
    image = palette_picture(random_palette(n, alpha), smooth_index(n))
    written = decoded(png_bytes(image))
    assert written.mode == "P"
    assert np.array_equal(rgba(written), rgba(image))
    assert (rgba(written)[..., 3] == 0).sum() == (np.asarray(image) == 5).sum() > 0


def test_palette_image_read_from_a_png_file_keeps_its_transparency():
    """A P image as Pillow reads it from a file: RGB palette, alpha in info['transparency']."""
    buffer = io.BytesIO()
    palette_picture(random_palette(6, [0, 90, 255, 255, 255, 255]), smooth_index(6)).save(buffer, "PNG")
    with Image.open(buffer) as image:
        image.load()
        assert isinstance(image.info.get("transparency"), bytes)
        assert np.array_equal(rgba(decoded(png_bytes(image))), rgba(image))


def test_unused_entries_are_dropped_and_the_order_kept():
    palette = random_palette(10)
    index = smooth_index(10) % 5 * 2          # entries 0, 2, 4, 6, 8 only
    data = png_bytes(palette_picture(palette, index))
    written = decoded(data)
    assert np.array_equal(np.array(written.getpalette()).reshape(-1, 3), palette[::2])
    assert np.array_equal(rgba(written), rgba(palette_picture(palette, index)))


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
def test_other_modes_are_written_with_the_same_pixels(mode):
    pixels = photo_like()
    image = Image.fromarray(pixels).convert(mode)
    if mode == "RGBA":
        image.putalpha(Image.fromarray(pixels[..., 0]))
    written = decoded(png_bytes(image))
    assert written.mode == mode
    assert np.array_equal(np.asarray(written), np.asarray(image))


@pytest.mark.parametrize(("mode", "written_mode"), [("PA", "RGBA"), ("CMYK", "RGB")])
def test_modes_pillow_cannot_write_as_png_are_written_as_rgb(mode, written_mode):
    image = Image.fromarray(photo_like()).convert(mode)
    written = decoded(png_bytes(image))
    assert written.mode == written_mode
    assert np.array_equal(rgba(written), rgba(image))


def test_without_oxipng_pillow_writes_the_same_pixels(monkeypatch):
    monkeypatch.setattr(colorquant._png, "_oxipng", lambda: None)
    alpha = np.full(12, 255)
    alpha[0] = 100
    image = palette_picture(random_palette(12, alpha), smooth_index(12))
    written = decoded(png_bytes(image, text={"Title": "fallback"}))
    assert written.mode == "P" and written.info["Title"] == "fallback"
    assert np.array_equal(rgba(written), rgba(image))


def test_compress_image_result_round_trips():
    result = compress_image(Image.fromarray(photo_like()), 8, seed=0)
    assert np.array_equal(rgba(decoded(png_bytes(result))), rgba(result))


def test_the_same_image_gives_the_same_bytes():
    image = photo_quantized(64)
    assert png_bytes(image) == png_bytes(image)


# --- texts and the ICC profile -----------------------------------------------------------------------

def test_text_chunks_survive_latin1_and_not():
    text = {"Title": "Tulips, reduced to 16 colours", "Copyright": "CC BY 2.0", "Author": "Łukasz, 東京"}
    written = decoded(png_bytes(palette_picture(random_palette(4), smooth_index(4)), text=text))
    assert {key: written.info[key] for key in text} == text


def test_bad_text_key_is_a_clear_error():
    with pytest.raises(ValueError, match="'東京'"):
        png_bytes(palette_picture(random_palette(4), smooth_index(4)), text={"東京": "x"})


def test_rgb_icc_profile_survives():
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    image = palette_picture(random_palette(5), smooth_index(5))
    image.info["icc_profile"] = profile
    data = png_bytes(image, text={"Title": "with a profile"})
    written = decoded(data)
    assert written.info["icc_profile"] == profile and written.info["Title"] == "with a profile"
    iccp = dict(chunks(data))["iCCP"]
    assert zlib.decompress(iccp[iccp.index(b"\0") + 2:]) == profile


# --- size -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("n", "bits"), [(2, 1), (3, 2), (4, 2), (5, 4), (17, 8)])
def test_few_colours_get_a_small_bit_depth(n, bits):
    """Up to 16 colours the pixels can be packed (oxipng keeps 8 bits where that file is smaller)."""
    data = png_bytes(palette_picture(random_palette(n, seed=n), smooth_index(n)))
    assert header(data) == (bits, 3)


@pytest.mark.parametrize("n", [16, 256])
def test_photo_png_is_no_larger_than_pillows_default(n):
    image = photo_quantized(n)
    palette = np.array(image.getpalette()).reshape(-1, 3)[: int(np.asarray(image).max()) + 1]
    ordered = palette_picture(*_order_palette(palette.astype(np.uint8), np.asarray(image)))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    assert len(png_bytes(ordered)) < len(buffer.getvalue())


# --- palette order ------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 2, 9, 16, 17, 100, 256])
@pytest.mark.parametrize("channels", [3, 4])
def test_order_palette_only_permutes(n, channels):
    rng = np.random.default_rng(n)
    alpha = rng.choice([0, 128, 255, 255], size=n) if channels == 4 else None
    palette = random_palette(n, alpha, seed=n)
    index = smooth_index(n, width=70, height=50, seed=n)
    if n > 4:
        index[index == 3] = 2   # entry 3 unused
    new_palette, new_index = _order_palette(palette, index)
    assert new_palette.shape == palette.shape and new_palette.dtype == palette.dtype
    assert new_index.shape == index.shape and new_index.dtype == index.dtype
    assert np.array_equal(new_palette[new_index], palette[index])
    assert sorted(map(tuple, new_palette)) == sorted(map(tuple, palette))
    if channels == 4:   # among the used entries, the non-opaque ones first
        opaque = new_palette[: len(np.unique(index)), 3] == 255
        assert np.all(np.diff(opaque.astype(int)) >= 0)
    if n > 4:           # the unused entry last
        assert tuple(new_palette[-1]) == tuple(palette[3])


def test_order_palette_puts_frequent_neighbours_together():
    """Four colours in stripes 0, 2, 1, 3 across the image: stripe neighbours become index neighbours."""
    stripes = np.repeat(np.array([0, 2, 1, 3], dtype=np.uint8), 8)
    index = np.tile(stripes, (16, 1))
    new_index = _order_palette(random_palette(4), index)[1]
    steps = np.abs(np.diff(new_index.astype(int), axis=1))
    assert set(np.unique(steps)) == {0, 1}


@pytest.mark.parametrize("oxipng", [True, False])
def test_the_private_writer_of_palette_and_index_matches_png_bytes(monkeypatch, oxipng):
    """_indexed_png, which png_bytes and the command line share, from an RGB palette (opaque) or RGBA."""
    if not oxipng:
        monkeypatch.setattr(colorquant._png, "_oxipng", lambda: None)
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    for palette in (random_palette(6)[:, :3], random_palette(6, np.array([0, 80, 255, 255, 255, 255]))):
        index = smooth_index(5)            # entry 5 unused: dropped
        data = colorquant._png._indexed_png(palette, index, text={"Title": "t"}, profile=profile)
        image = palette_picture(palette, index)
        image.info["icc_profile"] = profile
        written = decoded(data)
        assert np.array_equal(rgba(written), rgba(image))
        assert written.info["icc_profile"] == profile and written.info["Title"] == "t"
        assert len(written.getpalette()) == 3 * 5
        if oxipng:
            assert data == png_bytes(image, text={"Title": "t"})
