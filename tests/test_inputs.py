"""Reading the input: every kind of source, mode and dtype, EXIF, colour profiles, bad files and bombs.

compress_image and load_rgb read alike; what they make of the pixels is in test_quantisation.py.
"""
import io
import re
import warnings

import numpy as np
import pytest
from PIL import Image, ImageCms

from colorquant import compress_image, load_rgb, png_bytes
from pictures import (
    animated_gif_bytes,
    cmyk_profile,
    corrupt_exif_bytes,
    photo_like,
    png_header_only,
    same_image,
    same_pixels,
    with_alpha,
)

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def rgb_of(image):
    return np.asarray(image.convert("RGB"))


# --- paths, file objects and buffers -------------------------------------------------------------

def test_str_pathlike_open_file_and_buffer_give_the_same(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(photo_like()).save(path)
    by_path = compress_image(path, 8, seed=2)
    assert same_image(compress_image(str(path), 8, seed=2), by_path)
    with open(path, "rb") as file:
        assert same_image(compress_image(file, 8, seed=2), by_path)
    assert same_image(compress_image(io.BytesIO(path.read_bytes()), 8, seed=2), by_path)


def test_bad_bytes_buffer_raises_an_os_error():
    with pytest.raises(OSError, match="BytesIO"):
        compress_image(io.BytesIO(b"not an image"), 8)


def test_bad_open_file_is_named(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("not an image")
    with open(path, "rb") as file, pytest.raises(OSError) as raised:
        compress_image(file, 8)
    assert str(path) in str(raised.value)


def truncated_jpeg(path):
    buffer = io.BytesIO()
    Image.fromarray(photo_like(200, 200)).save(buffer, "JPEG")
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])


@pytest.mark.parametrize("kind", ["missing", "text", "empty", "truncated", "directory"])
def test_bad_file_raises_an_os_error_that_names_it(tmp_path, kind):
    path = tmp_path / f"bad_{kind}.jpg"
    if kind == "text":
        path.write_text("not an image")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        truncated_jpeg(path)
    elif kind == "directory":
        path.mkdir()
    with pytest.raises(OSError) as raised:
        compress_image(path, 8)
    assert str(path) in str(raised.value)


@pytest.mark.parametrize("source", [42, [[0, 0, 0]], b"\x89PNG", None])
def test_source_of_another_type_is_a_type_error(source):
    with pytest.raises(TypeError, match="path, a binary file object, a PIL.Image.Image or a NumPy array"):
        compress_image(source, 8)


# --- EXIF: orientation, corrupt blocks; animated files -------------------------------------------

def test_exif_orientation_of_a_file_is_applied(rotated_jpeg):
    assert compress_image(rotated_jpeg, 8).size == (32, 48)
    assert load_rgb(rotated_jpeg).shape == (48, 32, 3)


def test_exif_orientation_of_a_given_image_is_applied_without_changing_it(rotated_jpeg):
    with Image.open(rotated_jpeg) as opened:
        assert compress_image(opened, 8).size == (32, 48)
        assert opened.size == (48, 32) and opened.getexif()[0x0112] == 6


@pytest.mark.parametrize("kind", ["PNG", "WEBP"])
def test_corrupt_exif_block_is_ignored_with_a_warning(tmp_path, kind):
    """A PNG eXIf or WebP EXIF chunk that is not TIFF data: the image is used as stored."""
    path = tmp_path / f"photo.{kind.lower()}"
    path.write_bytes(corrupt_exif_bytes(kind))
    with pytest.warns(UserWarning, match="EXIF block of .* is corrupt .*used as stored"):
        result = compress_image(path, 8, seed=0)
    with Image.open(path) as opened:
        stored = np.asarray(opened.convert("RGB"))
    assert result.size == (48, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        assert same_image(result, compress_image(stored, 8, seed=0))
        with Image.open(path) as opened:   # a given image with that block: the same
            assert same_image(compress_image(opened, 8, seed=0), result)


def test_jpeg_exif_segment_that_is_not_tiff_still_gives_the_photo(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(corrupt_exif_bytes("JPEG"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        assert compress_image(path, 8).size == (48, 32)


def test_animated_file_gives_its_first_frame_and_says_so(tmp_path):
    path = tmp_path / "moving.gif"
    path.write_bytes(animated_gif_bytes(3))
    with pytest.warns(UserWarning, match="animated: only the first of its 3 frames was used"):
        pixels = load_rgb(path)
    assert np.array_equal(np.unique(pixels.reshape(-1, 3), axis=0), [[0, 40, 200]])


def test_a_still_gif_gives_no_warning(tmp_path):
    path = tmp_path / "still.gif"
    Image.new("RGB", (8, 8), (1, 2, 3)).save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compress_image(path, 4)


# --- Pillow modes ----------------------------------------------------------------------------------

def make_mode(mode):
    """A small image in the given Pillow mode, made from the test photo."""
    rgb = Image.fromarray(photo_like())
    if mode == "P+transparency":
        image = rgb.quantize(64)
        image.info["transparency"] = 0
        return image
    if mode in ("RGBA", "LA"):
        image = rgb.convert(mode)
        image.putalpha(Image.fromarray(with_alpha(photo_like())[..., 3]))
        return image
    if mode == "P":
        return rgb.quantize(64)
    return rgb.convert(mode)


@pytest.mark.parametrize("mode", ["RGB", "L", "P", "CMYK", "1", "RGBA", "LA", "P+transparency"])
def test_every_usual_mode_is_read(mode):
    image = make_mode(mode)
    result = compress_image(image, 8, seed=0)
    assert result.size == (48, 32)
    assert len(np.unique(rgb_of(result).reshape(-1, 3), axis=0)) <= 8
    if "A" not in mode and "transparency" not in mode:
        assert result.mode == "P" and not result.has_transparency_data
    assert np.array_equal(load_rgb(image), rgb_of(image))


def test_grayscale_stays_gray():
    rgb = rgb_of(compress_image(make_mode("L"), 8, seed=0))
    assert np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2])


def test_16_bit_grayscale_is_scaled_not_clipped(tmp_path):
    """A 16-bit scan from black to white keeps its gradient (Pillow's convert('RGB') turns it white)."""
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (16, 1))
    path = tmp_path / "scan16.png"
    Image.fromarray(ramp).save(path)
    with Image.open(path) as opened:
        assert opened.mode.startswith("I")
    result = rgb_of(compress_image(path, 8, seed=0))[..., 0]
    assert result[:, 0].max() < 40 and result[:, -1].min() > 215
    assert abs(float(result.mean()) - 127.5) < 10


def test_32_bit_integer_mode_is_read_as_16_or_8_bit():
    """Mode 'I' holds 16-bit scans (scaled) or 8-bit values (kept): neither turns black nor white."""
    ramp = np.tile(np.arange(0, 256, 4, dtype=np.int32), (8, 1))
    for values in (ramp, ramp * 257):
        result = rgb_of(compress_image(Image.fromarray(values), 8, seed=0))[..., 0]
        assert result[:, 0].max() < 40 and result[:, -1].min() > 215


def test_float_mode_f_image_is_read_as_floats_in_0_1():
    """A Pillow image in mode F with values in [0, 1] reads like the float array (it used to be black)."""
    values = np.tile(np.linspace(0, 1, 64, dtype=np.float32), (8, 1))
    image = Image.fromarray(values)
    assert image.mode == "F"
    assert np.array_equal(load_rgb(image), load_rgb(values))
    assert load_rgb(image)[0, -1, 0] == 255
    assert same_image(compress_image(image, 4, seed=0), compress_image(values, 4, seed=0))


def test_float_mode_f_image_above_1_is_refused_like_a_float_array():
    values = np.full((4, 4), 200, dtype=np.float32)
    with pytest.raises(ValueError) as from_array:
        compress_image(values, 4)
    with pytest.raises(ValueError) as from_image:
        compress_image(Image.fromarray(values), 4)
    assert str(from_image.value) == str(from_array.value)
    assert "[0, 1]" in str(from_image.value) and "divide the array by 255" in str(from_image.value)


def test_input_image_object_is_not_modified():
    image = make_mode("RGBA")
    before = (image.mode, image.size, image.tobytes())
    compress_image(image, 4)
    assert (image.mode, image.size, image.tobytes()) == before


# --- NumPy arrays ----------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
def test_uint8_array_is_taken_as_is(mode):
    image = Image.fromarray(photo_like()).convert(mode)
    assert same_image(compress_image(np.asarray(image), 8, seed=0), compress_image(image, 8, seed=0))


def test_rgba_array_keeps_its_transparency():
    array = with_alpha(photo_like())
    result = compress_image(array, 8, seed=0)
    alpha = np.asarray(result.convert("RGBA"))[..., 3]
    assert result.mode == "P"
    assert np.all(alpha[array[..., 3] == 0] == 0), "invisible pixels stay invisible"
    assert np.abs(alpha.astype(int) - array[..., 3]).mean() < 16, "graded alpha is quantised, not dropped"


def test_uint16_array_is_scaled_like_a_16_bit_file(tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (16, 1))
    ramp[3, 5] = 32896                     # 127.5 x 257 exactly, rounds the same way in both
    path = tmp_path / "scan16.png"
    Image.fromarray(ramp).save(path)
    assert same_image(compress_image(ramp, 8, seed=0), compress_image(path, 8, seed=0))


def test_uint16_rgb_array_is_scaled_not_clipped():
    pixels = photo_like()
    assert np.array_equal(load_rgb(pixels.astype(np.uint16) * 257), pixels)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_float_array_in_0_1_is_read_like_uint8(dtype):
    pixels = photo_like()
    assert np.array_equal(load_rgb((pixels / 255).astype(dtype)), pixels)


def test_float_array_in_0_255_suggests_dividing_by_255():
    with pytest.raises(ValueError, match=r"\[0, 1\].*divide the array by 255"):
        compress_image(photo_like().astype(np.float64), 8)


@pytest.mark.parametrize("values", [[-0.5, 0.5], [0.0, 300.0], [0.2, np.nan]])
def test_float_array_out_of_range_or_nan_states_the_range(values):
    array = np.resize(np.array(values), (8, 8))
    with pytest.raises(ValueError, match=r"\[0, 1\]") as raised:
        compress_image(array, 8)
    assert "divide" not in str(raised.value)
    assert ("NaN" in str(raised.value)) == bool(np.isnan(values).any())


@pytest.mark.parametrize("shape", [(8,), (8, 8, 2), (8, 8, 5), (8, 8, 3, 1), (0, 8, 3), (8, 0, 1)])
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


def test_load_rgb_gives_the_pixels_as_read(tmp_path):
    pixels = photo_like()
    path = tmp_path / "photo.png"
    Image.fromarray(with_alpha(pixels)).save(path)
    loaded = load_rgb(path)
    assert loaded.dtype == np.uint8 and loaded.shape == (32, 48, 3) and loaded.flags.c_contiguous
    assert np.array_equal(loaded, pixels)


# --- decompression bombs ---------------------------------------------------------------------------

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


# --- ICC colour profiles ---------------------------------------------------------------------------

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
    assert result.info["icc_profile"] == SRGB
    result.save(tmp_path / "out.png")
    with Image.open(tmp_path / "out.png") as saved:
        assert saved.info["icc_profile"] == SRGB
        assert same_pixels(saved, result)


def test_rgb_profile_of_a_jpeg_and_of_a_buffer_is_kept(tmp_path):
    path = tmp_path / "phone.jpg"
    Image.fromarray(photo_like()).save(path, icc_profile=SRGB)
    assert compress_image(path, 8).info["icc_profile"] == SRGB
    assert compress_image(io.BytesIO(path.read_bytes()), 8).info["icc_profile"] == SRGB


@pytest.mark.parametrize("mode, space", [("CMYK", b"CMYK"), ("L", b"GRAY")])
def test_cmyk_or_grayscale_profile_is_dropped(tmp_path, mode, space):
    path = tmp_path / "photo.jpg"
    profile = cmyk_profile() if mode == "CMYK" else with_profile(space)
    Image.fromarray(photo_like()).convert(mode).save(path, icc_profile=profile)
    with Image.open(path) as opened:
        assert opened.info["icc_profile"][16:20] == space
    result = compress_image(path, 8)
    assert "icc_profile" not in result.info
    result.save(tmp_path / "out.png")
    with Image.open(tmp_path / "out.png") as saved:
        assert "icc_profile" not in saved.info


def test_image_without_profile_gets_none():
    assert "icc_profile" not in compress_image(photo_like(), 8).info


# --- defects of issue 18: one array layout, byte orders, empty images, CMYK profiles -----------------

@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float64])
def test_a_one_channel_array_is_grayscale_like_a_2d_one(dtype):
    """(H, W, 1), as scikit-image and NumPy slicing give it: the same as (H, W), not Pillow's error."""
    gray = photo_like()[..., 1]
    values = {np.uint8: gray, np.uint16: gray.astype(np.uint16) * 257, np.float64: gray / 255}[dtype]
    assert same_image(compress_image(values[..., None], 8, seed=0), compress_image(values, 8, seed=0))
    assert np.array_equal(load_rgb(values[..., None]), load_rgb(values))
    assert compress_image(np.zeros((8, 8, 1), np.uint8), 8).size == (8, 8)


@pytest.mark.parametrize("dtype", [">u2", ">f4", ">f8"])
def test_a_big_endian_array_is_read_by_its_values(dtype):
    pixels = photo_like()
    native = pixels.astype(np.uint16) * 257 if dtype == ">u2" else pixels / 255
    swapped = native.astype(dtype)
    assert np.array_equal(load_rgb(swapped), load_rgb(native))
    assert same_image(compress_image(swapped, 8, seed=0), compress_image(native, 8, seed=0))


@pytest.mark.parametrize("size", [(0, 4), (4, 0), (0, 0)])
@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
def test_an_image_without_pixels_is_a_value_error_that_says_so(size, mode):
    with pytest.raises(ValueError, match=f"the given image has no pixels: it is {size[0]} x {size[1]}"):
        compress_image(Image.new(mode, size), 8)
    with pytest.raises(ValueError, match="has no pixels"):
        load_rgb(Image.new(mode, size))


def cmyk_jpeg(path):
    """A CMYK JPEG carrying the test CMYK profile: its pixels and what the profile says they show."""
    image = Image.fromarray(photo_like()).convert("CMYK")
    image.save(path, icc_profile=cmyk_profile())
    with Image.open(path) as opened:
        opened.load()
    through_profile = ImageCms.profileToProfile(opened, ImageCms.ImageCmsProfile(io.BytesIO(cmyk_profile())),
                                                ImageCms.createProfile("sRGB"), outputMode="RGB")
    return opened, np.asarray(through_profile)


def test_a_cmyk_image_with_a_profile_is_converted_to_srgb_through_it(tmp_path):
    path = tmp_path / "print.jpg"
    opened, expected = cmyk_jpeg(path)
    plain = np.asarray(opened.convert("RGB"))
    assert np.abs(expected.astype(int) - plain).mean() > 40      # the profile matters here
    assert np.array_equal(load_rgb(path), expected)
    assert np.array_equal(load_rgb(opened), expected)
    result = compress_image(path, 8, seed=0)
    assert same_image(result, compress_image(expected, 8, seed=0)) and "icc_profile" not in result.info
    assert opened.mode == "CMYK" and opened.info["icc_profile"] == cmyk_profile()   # the source unchanged


def test_a_cmyk_image_written_as_png_carries_no_cmyk_profile(tmp_path):
    opened, expected = cmyk_jpeg(tmp_path / "print.jpg")
    with Image.open(io.BytesIO(png_bytes(opened))) as written:
        assert "icc_profile" not in written.info
        assert np.array_equal(rgb_of(written), expected)
    with Image.open(io.BytesIO(png_bytes(compress_image(opened, 8)))) as written:
        assert "icc_profile" not in written.info


def test_a_cmyk_profile_lcms_cannot_use_gives_a_warning_and_the_plain_conversion(tmp_path):
    path = tmp_path / "print.jpg"
    Image.fromarray(photo_like()).convert("CMYK").save(path, icc_profile=with_profile(b"CMYK")[:200])
    with pytest.warns(UserWarning, match="CMYK colour profile of .*print.jpg.* cannot be used"):
        pixels = load_rgb(path)
    with Image.open(path) as opened:
        assert np.array_equal(pixels, rgb_of(opened))
