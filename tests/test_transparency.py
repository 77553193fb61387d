"""Transparency as pngquant handles it, and psnr of premultiplied RGBA, on small images the tests make."""
import io
import math

import numpy as np
import pytest
from PIL import Image

from colorquant import compress_image, load_rgb, palette_image, psnr
from pictures import photo_like, same_image


def rgba_palette(result):
    """The (n, 4) RGBA entries of a palette image's palette."""
    return np.array(result.getpalette(rawmode="RGBA")).reshape(-1, 4)


def used_entries(result):
    """The RGBA palette entries the pixels use."""
    return rgba_palette(result)[np.unique(np.asarray(result))]


def on_off(seed=1):
    """A photo-like RGBA image, visible in an ellipse, fully transparent (with coloured RGB) around it."""
    rgba = np.dstack([photo_like(seed=seed), np.zeros((32, 48), np.uint8)])
    y, x = np.mgrid[0:32, 0:48]
    rgba[..., 3] = np.where(((x - 24) / 20) ** 2 + ((y - 16) / 13) ** 2 <= 1, 255, 0)
    return rgba


def graded():
    """A photo-like RGBA image whose alpha falls from 255 at the centre to 0 (and stays 0) at the edges."""
    rgba = np.dstack([photo_like(), np.zeros((32, 48), np.uint8)])
    y, x = np.mgrid[0:32, 0:48]
    rgba[..., 3] = np.clip(255 * (1.3 - np.hypot((x - 24) / 20, (y - 16) / 13)), 0, 255).astype(np.uint8)
    return rgba


def saved_and_read(image):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    with Image.open(io.BytesIO(buffer.getvalue())) as read:
        read.load()
        return read


# --- the three kinds of transparency -----------------------------------------------------------------

def test_opaque_rgba_gives_the_plain_palette_image_of_its_rgb():
    pixels = photo_like()
    result = compress_image(np.dstack([pixels, np.full((32, 48), 255, np.uint8)]), 8, seed=0)
    assert result.mode == "P" and result.palette.mode == "RGB" and "transparency" not in result.info
    assert same_image(result, compress_image(pixels, 8, seed=0))


def test_on_off_alpha_gets_one_fully_transparent_entry():
    rgba = on_off()
    result = compress_image(rgba, 8, seed=0)
    assert result.mode == "P"
    entries = used_entries(result)
    assert len(entries) <= 8
    assert sorted(set(entries[:, 3])) == [0, 255] and (entries[:, 3] == 0).sum() == 1
    shown = np.asarray(result.convert("RGBA"))
    assert np.array_equal(shown[..., 3], rgba[..., 3])
    assert not shown[rgba[..., 3] == 0].any(), "invisible pixels are transparent black"


def test_graded_alpha_gets_entries_with_alpha_that_a_png_keeps():
    rgba = graded()
    result = compress_image(rgba, 16, seed=0)
    assert result.mode == "P" and len(used_entries(result)) <= 16
    alphas = used_entries(result)[:, 3]
    assert 0 in alphas and ((alphas > 0) & (alphas < 255)).sum() >= 3
    shown = np.asarray(result.convert("RGBA"))
    assert np.all(shown[rgba[..., 3] == 0, 3] == 0)
    assert np.abs(shown[..., 3].astype(int) - rgba[..., 3]).mean() < 12
    read = saved_and_read(result)   # the palette's alpha is written as tRNS and read back
    assert read.mode == "P" and np.array_equal(np.asarray(read.convert("RGBA")), shown)


@pytest.mark.parametrize("n_colors", [2, 3, 5])
def test_the_transparent_entry_counts_towards_k(n_colors):
    result = compress_image(on_off(), n_colors, seed=0)
    entries = used_entries(result)
    assert len(entries) == n_colors and (entries[:, 3] == 0).sum() == 1


def test_few_colours_with_transparency_are_kept_exactly():
    colors = np.array([[255, 0, 0, 255], [0, 0, 255, 128], [0, 0, 0, 0]], dtype=np.uint8)
    rgba = colors[np.random.default_rng(0).integers(0, 3, size=(10, 12))]
    result = compress_image(rgba, 3, seed=0)
    assert np.array_equal(np.asarray(result.convert("RGBA")), rgba)


# --- invisible pixels do not pull the palette ----------------------------------------------------------

@pytest.mark.parametrize("make", [on_off, graded])
def test_colours_of_invisible_pixels_do_not_change_the_result(make):
    rgba = make()
    other = rgba.copy()
    invisible = rgba[..., 3] == 0
    other[invisible, :3] = np.random.default_rng(9).integers(0, 256, size=(invisible.sum(), 3))
    assert same_image(compress_image(rgba, 6, seed=0), compress_image(other, 6, seed=0))


def test_a_colour_weighs_by_its_alpha():
    """Faint red and faint green differ little once premultiplied (by alpha 4 / 255): with 3 entries,
    one serves both and two go to the opaque blues (in straight RGBA, red and green would take two)."""
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[:, :8] = (255, 0, 0, 4)
    rgba[:, 8:16] = (0, 255, 0, 4)
    rgba[:, 16:, 2] = np.linspace(80, 255, 20)[:, None].astype(np.uint8)   # opaque blues
    rgba[:, 16:, 3] = 255
    entries = used_entries(compress_image(rgba, 3, seed=0))
    assert sorted(entries[:, 3]) == [4, 255, 255], entries
    assert len(np.unique(np.asarray(compress_image(rgba, 3, seed=0))[:, :16])) == 1


# --- palette_image -------------------------------------------------------------------------------------

def test_palette_image_takes_an_rgba_palette():
    palette = np.array([[0, 0, 0, 0], [255, 0, 0, 128]], dtype=np.uint8)
    index = np.array([[0, 1], [1, 1]], dtype=np.uint8)
    image = palette_image(palette, index)
    assert image.mode == "P"
    assert np.array_equal(np.asarray(image.convert("RGBA")), palette[index])


# --- psnr by the formula --------------------------------------------------------------------------------

def test_psnr_of_rgb_by_hand():
    a = np.zeros((1, 2, 3), np.uint8)
    b = a.copy()
    b[0, 1, 2] = 3                                    # MSE = 9 / 6
    assert psnr(a, b) == pytest.approx(10 * math.log10(255 ** 2 / 1.5))


def test_psnr_of_rgba_counts_premultiplied_colour_and_alpha():
    a = np.array([[[100, 0, 0, 255], [7, 8, 9, 200]]], np.uint8)
    b = np.array([[[100, 0, 0, 127], [7, 8, 9, 200]]], np.uint8)
    squared = (100 - 100 * 127 / 255) ** 2 + 128 ** 2   # premultiplied red, and alpha, of the first pixel
    assert psnr(a, b) == pytest.approx(10 * math.log10(255 ** 2 / (squared / 6)))


def test_psnr_ignores_the_colour_of_fully_transparent_pixels():
    a = np.array([[[10, 20, 30, 0], [1, 2, 3, 255]]], np.uint8)
    b = np.array([[[200, 100, 0, 0], [1, 2, 5, 255]]], np.uint8)
    assert psnr(a, b) == pytest.approx(10 * math.log10(255 ** 2 / (4 / 6)))


def test_psnr_of_an_opaque_rgba_image_is_that_of_its_rgb_and_rgb_counts_as_opaque():
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, 256, size=(2, 8, 9, 3), dtype=np.uint8)
    opaque = np.full((8, 9, 1), 255, np.uint8)
    expected = psnr(a, b)
    a4, b4 = np.concatenate([a, opaque], axis=2), np.concatenate([b, opaque], axis=2)
    assert psnr(a4, b4) == pytest.approx(expected)
    assert psnr(a4, b) == pytest.approx(expected)
    assert psnr(a, b4) == pytest.approx(expected)


def test_psnr_scales_each_image_by_its_dtype_without_rounding():
    a = np.array([[[0, 0, 0]]], np.uint8)
    b16 = np.array([[[1, 0, 0]]], np.uint16)          # 1 / 257 of a level
    assert psnr(a, b16) == pytest.approx(10 * math.log10(255 ** 2 / ((1 / 257) ** 2 / 3)))
    floats = np.array([[[0.5, 0.0, 0.0]]])
    assert psnr(a, floats) == pytest.approx(10 * math.log10(255 ** 2 / (127.5 ** 2 / 3)))


@pytest.mark.parametrize("values", [[-0.5, 0.5], [0.0, 255.0], [0.2, np.nan]])
def test_psnr_refuses_floats_outside_0_1_naming_the_values(values):
    floats = np.resize(np.array(values), (2, 2, 3))
    with pytest.raises(ValueError, match=r"\[0, 1\].*values from"):
        psnr(floats, np.zeros((2, 2, 3), np.uint8))


def test_psnr_refuses_other_dtypes_naming_them():
    with pytest.raises(TypeError, match="int32"):
        psnr(np.zeros((2, 2, 3), np.int32), np.zeros((2, 2, 3), np.uint8))


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_psnr_matches_scikit_image_on_rgb(dtype):
    from skimage.metrics import peak_signal_noise_ratio

    rng = np.random.default_rng(4)
    a = rng.integers(0, 256, size=(20, 30, 3), dtype=np.uint8)
    b = np.clip(a + rng.integers(-9, 10, size=a.shape), 0, 255).astype(np.uint8)
    if dtype != np.uint8:
        a, b = (a / 255).astype(dtype), (b / 255).astype(dtype)
    assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(a, b), abs=1e-4)


def test_psnr_reads_pil_images_with_their_transparency():
    rgba = graded()
    result = compress_image(rgba, 8, seed=0)
    measured = psnr(Image.fromarray(rgba), result)
    assert measured == pytest.approx(psnr(rgba, np.asarray(result.convert("RGBA"))))
    assert measured != pytest.approx(psnr(rgba[..., :3], np.asarray(result.convert("RGB"))))


# --- psnr of PIL images read as compress_image reads them (defects of issue 18) -----------------------

def test_psnr_of_an_exif_rotated_photo_against_its_result(rotated_jpeg):
    """psnr(Image.open(p), compress_image(p)): the original is turned upright as compress_image turns it."""
    result = compress_image(rotated_jpeg, 8, seed=0)
    with Image.open(rotated_jpeg) as original:
        assert original.size == (48, 32) and result.size == (32, 48)
        assert psnr(original, result) == psnr(load_rgb(rotated_jpeg), np.asarray(result.convert("RGB")))
        assert original.size == (48, 32)          # the caller's image is not turned


def test_psnr_of_a_16_bit_png_counts_its_16_bit_values(tmp_path):
    rng = np.random.default_rng(3)
    wide = rng.integers(0, 65536, size=(24, 40), dtype=np.uint16)
    path = tmp_path / "scan.png"
    Image.fromarray(wide).save(path)
    result = compress_image(path, 8, seed=0)
    expected = psnr(np.repeat(wide[..., None], 3, axis=2), np.asarray(result.convert("RGB")))
    with Image.open(path) as original:
        assert original.mode.startswith("I")
        assert psnr(original, result) == pytest.approx(expected, abs=1e-9)
    assert 10 < expected < 40          # not the clipped image's, which is white everywhere


def test_psnr_of_a_mode_f_image_reads_its_floats():
    values = photo_like()[..., 0] / 255
    original = Image.fromarray(values.astype(np.float32), "F")
    result = compress_image(original, 8, seed=0)
    expected = psnr(np.repeat(values.astype(np.float32)[..., None], 3, axis=2),
                    np.asarray(result.convert("RGB")))
    assert psnr(original, result) == pytest.approx(expected, abs=1e-9)
    assert 20 < expected < 60          # not black, which the earlier reading gave
    with pytest.raises(ValueError, match="original"):
        psnr(Image.fromarray(np.full((4, 4), 3.0, np.float32), "F"), Image.new("RGB", (4, 4)))


def test_psnr_of_big_endian_arrays_is_that_of_their_values():
    original = photo_like().astype(np.uint16) * 257
    changed = np.clip(original.astype(np.int64) + 3000, 0, 65535).astype(np.uint16)
    assert psnr(original.astype(">u2"), changed.astype(">u2")) == psnr(original, changed)
    assert psnr(original.astype(">f8") / 65535, changed) == pytest.approx(psnr(original, changed), abs=1e-9)


def test_psnr_of_a_grayscale_array_against_its_result_counts_three_equal_channels():
    gray = photo_like()[..., 1]
    for original in (gray, gray[..., None]):
        result = compress_image(original, 4, seed=0)
        rgb = np.asarray(result.convert("RGB"))
        expected = psnr(np.repeat(gray[..., None], 3, axis=2), rgb)
        assert psnr(original, result) == psnr(original, rgb) == expected
        assert psnr(rgb, original) == expected
    half = gray // 2
    assert psnr(gray[..., None], half[..., None]) == psnr(gray, half) == psnr(gray, half[..., None])
