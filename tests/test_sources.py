"""The wider contract of compress_image: every kind of source, seeds, dithering, colour profiles, bombs."""
import io
import re
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageCms

from colorquant import compress_image
from pictures import photo_like, same_image

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def png_bytes(image, **params):
    buffer = io.BytesIO()
    image.save(buffer, "PNG", **params)
    return buffer.getvalue()


# --- file objects and buffers ------------------------------------------------------------------------

def test_open_file_and_bytes_buffer_give_what_the_path_gives(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(photo_like()).save(path)
    by_path = compress_image(path, 8, seed=2)
    with open(path, "rb") as file:
        assert same_image(compress_image(file, 8, seed=2), by_path)
    data = path.read_bytes()
    buffer = io.BytesIO(data)
    assert same_image(compress_image(buffer, 8, seed=2), by_path)
    assert buffer.getvalue() == data and path.read_bytes() == data


def test_bad_bytes_buffer_raises_an_os_error():
    with pytest.raises(OSError, match="BytesIO"):
        compress_image(io.BytesIO(b"not an image"), 8)


def test_bad_open_file_is_named(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("not an image")
    with open(path, "rb") as file, pytest.raises(OSError) as raised:
        compress_image(file, 8)
    assert str(path) in str(raised.value)


# --- NumPy arrays ------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
def test_uint8_array_is_taken_as_is(mode):
    image = Image.fromarray(photo_like()).convert(mode)
    array = np.asarray(image)
    assert same_image(compress_image(array, 8, seed=0), compress_image(image, 8, seed=0))


def test_rgba_array_keeps_its_alpha():
    array = np.dstack([photo_like(), np.tile(np.arange(48, dtype=np.uint8) * 5, (32, 1))])
    result = compress_image(array, 8, seed=0)
    alpha = np.asarray(result.convert("RGBA"))[..., 3]
    assert result.mode == "P" and np.all(alpha[array[..., 3] == 0] == 0)
    assert np.abs(alpha.astype(int) - array[..., 3]).mean() < 16


def test_uint16_array_is_scaled_like_a_16_bit_file(tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (16, 1))
    ramp[3, 5] = 32896                     # 127.5 x 257 exactly, rounds the same way in both
    path = tmp_path / "scan16.png"
    Image.fromarray(ramp).save(path)
    assert same_image(compress_image(ramp, 8, seed=0), compress_image(path, 8, seed=0))


def test_uint16_rgb_array_is_scaled_not_clipped():
    pixels = photo_like()
    assert same_image(compress_image(pixels.astype(np.uint16) * 257, 8, seed=0), compress_image(pixels, 8, seed=0))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_float_array_in_0_1_is_read_like_uint8(dtype):
    pixels = photo_like()
    floats = (pixels / 255).astype(dtype)
    assert same_image(compress_image(floats, 8, seed=0), compress_image(pixels, 8, seed=0))


def test_float_array_in_0_255_suggests_dividing_by_255():
    with pytest.raises(ValueError, match=r"\[0, 1\].*divide the array by 255"):
        compress_image(photo_like().astype(np.float64), 8)


@pytest.mark.parametrize("values", [[-0.5, 0.5], [0.0, 300.0], [0.2, np.nan]])
def test_float_array_out_of_range_or_nan_states_the_range(values):
    array = np.resize(np.array(values), (8, 8))
    with pytest.raises(ValueError, match=r"\[0, 1\]") as raised:
        compress_image(array, 8)
    assert "divide" not in str(raised.value)
    if np.isnan(values).any():
        assert "NaN" in str(raised.value)


@pytest.mark.parametrize("shape", [(8,), (8, 8, 2), (8, 8, 5), (8, 8, 3, 1), (0, 8, 3)])
def test_array_of_another_shape_is_a_value_error_naming_it(shape):
    with pytest.raises(ValueError, match=re.escape(str(shape))):
        compress_image(np.zeros(shape, dtype=np.uint8), 8)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.bool_, np.int8, np.complex64])
def test_array_of_another_dtype_is_a_type_error_naming_it(dtype):
    with pytest.raises(TypeError, match=np.dtype(dtype).name):
        compress_image(np.zeros((8, 8, 3), dtype=dtype), 8)


def test_input_array_is_not_modified():
    floats = photo_like() / 255
    before = floats.copy()
    compress_image(floats, 8)
    assert np.array_equal(floats, before)


# --- decompression bombs -----------------------------------------------------------------------------

def png_header_only(width, height):
    """A PNG that claims width x height pixels and holds no pixel data: a bomb if opened, not decoded."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def test_decompression_bomb_is_refused_with_an_os_error_naming_the_file(tmp_path):
    side = int((2 * Image.MAX_IMAGE_PIXELS) ** 0.5) + 10
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header_only(side, side))
    with pytest.raises(OSError, match="bomb") as raised:
        compress_image(path, 8)
    assert str(path) in str(raised.value) and "not decoded" in str(raised.value)


def test_bomb_limit_is_pillows_own_setting(tmp_path, monkeypatch):
    """A real 48 x 32 photo is refused when Pillow's limit is lowered below half its pixel count."""
    path = tmp_path / "photo.png"
    Image.fromarray(photo_like()).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)
    with pytest.raises(OSError, match="bomb") as raised:
        compress_image(path, 8)
    assert str(path) in str(raised.value)
    with pytest.raises(OSError, match="bomb"):
        compress_image(io.BytesIO(path.read_bytes()), 8)


# --- seed ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 2**32 - 1, np.uint32(2**32 - 1), np.int64(5), None])
def test_valid_seeds_are_accepted(seed):
    result = compress_image(photo_like(), 8, seed=seed)
    assert result.mode == "P" and len(result.getpalette()) <= 3 * 8


def test_numpy_integer_seed_gives_the_same_as_the_int():
    assert same_image(compress_image(photo_like(), 8, seed=np.int64(5)), compress_image(photo_like(), 8, seed=5))


@pytest.mark.parametrize("bad, error", [
    (-1, ValueError), (2**32, ValueError), (True, TypeError), (1.5, TypeError), ("0", TypeError),
    (np.random.default_rng(0), TypeError),
])
def test_bad_seed_names_seed(bad, error):
    with pytest.raises(error, match="seed"):
        compress_image(photo_like(), 8, seed=bad)


# --- dithering -----------------------------------------------------------------------------------------

def block_means(rgb, size=8):
    h, w = (rgb.shape[0] // size) * size, (rgb.shape[1] // size) * size
    return rgb[:h, :w].reshape(h // size, size, w // size, size, 3).astype(float).mean(axis=(1, 3))


def test_dither_uses_the_kmeans_palette_and_keeps_local_averages():
    """On a smooth ramp, 8 x 8 blocks of the dithered image average to the original; plain bands do not."""
    ramp = np.tile(np.linspace(0, 255, 128), (64, 1)).astype(np.uint8)
    pixels = np.dstack([ramp, ramp // 2 + 60, 255 - ramp])
    plain = compress_image(pixels, 4, seed=0)
    dithered = compress_image(pixels, 4, seed=0, dither=True)
    assert dithered.mode == "P" and dithered.size == plain.size
    assert dithered.getpalette() == plain.getpalette()
    error = {name: np.abs(block_means(np.asarray(image.convert("RGB"))) - block_means(pixels)).mean()
             for name, image in (("plain", plain), ("dithered", dithered))}
    assert error["dithered"] < 0.5 * error["plain"], error


def test_dither_with_transparency_keeps_alpha():
    array = np.dstack([photo_like(), np.tile(np.arange(48, dtype=np.uint8) * 5, (32, 1))])
    plain = np.asarray(compress_image(array, 4, seed=0).convert("RGBA"))
    result = np.asarray(compress_image(array, 4, seed=0, dither=True).convert("RGBA"))
    assert np.all(result[..., 3][array[..., 3] == 0] == 0)
    assert not np.array_equal(result, plain)
    palette = {tuple(c) for c in plain.reshape(-1, 4)}
    assert {tuple(c) for c in result.reshape(-1, 4)} <= palette


def test_dither_with_few_colors_keeps_them_exactly():
    colors = np.array([[255, 0, 0], [0, 0, 255], [9, 9, 9]], dtype=np.uint8)
    pixels = colors[np.random.default_rng(0).integers(0, 3, size=(20, 20))]
    assert np.array_equal(np.asarray(compress_image(pixels, 8, dither=True).convert("RGB")), pixels)


# --- ICC colour profiles -------------------------------------------------------------------------------

def with_profile(color_space, profile=SRGB):
    """The sRGB profile, relabelled in its header as another colour space (CMYK, GRAY)."""
    return profile[:16] + color_space + profile[20:]


@pytest.mark.parametrize("alpha", [False, True])
def test_rgb_profile_is_kept_in_the_result_and_in_saved_pngs(tmp_path, alpha):
    image = Image.fromarray(photo_like())
    if alpha:
        image.putalpha(200)
    path = tmp_path / "p3.png"
    image.save(path, icc_profile=SRGB)
    result = compress_image(path, 8, seed=0)
    assert result.mode == "P"
    assert result.info["icc_profile"] == SRGB
    result.save(tmp_path / "out.png")
    with Image.open(tmp_path / "out.png") as saved:
        assert saved.info["icc_profile"] == SRGB


def test_rgb_profile_of_a_jpeg_and_of_a_buffer_is_kept(tmp_path):
    path = tmp_path / "phone.jpg"
    Image.fromarray(photo_like()).save(path, icc_profile=SRGB)
    assert compress_image(path, 8).info["icc_profile"] == SRGB
    assert compress_image(io.BytesIO(path.read_bytes()), 8).info["icc_profile"] == SRGB


@pytest.mark.parametrize("mode, space", [("CMYK", b"CMYK"), ("L", b"GRAY")])
def test_cmyk_or_grayscale_profile_is_dropped(tmp_path, mode, space):
    image = Image.fromarray(photo_like()).convert(mode)
    path = tmp_path / "photo.jpg"
    image.save(path, icc_profile=with_profile(space))
    with Image.open(path) as opened:
        assert opened.info["icc_profile"][16:20] == space
    result = compress_image(path, 8)
    assert "icc_profile" not in result.info
    result.save(tmp_path / "out.png")
    with Image.open(tmp_path / "out.png") as saved:
        assert "icc_profile" not in saved.info


def test_image_without_profile_gets_none():
    assert "icc_profile" not in compress_image(photo_like(), 8).info


def test_exif_orientation_of_a_given_image_is_applied_without_changing_it(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    Image.fromarray(photo_like()).save(path, exif=exif)
    with Image.open(path) as opened:
        assert compress_image(opened, 8).size == (32, 48)
        assert opened.size == (48, 32) and opened.getexif()[0x0112] == 6
