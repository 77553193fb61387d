"""The contract of compress_image, checked on small images the tests make (and on the tulips for quality)."""
import hashlib
import io
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks.reference import best_of_kmeans_psnr
from colorquant import compress_image, nearest, psnr
from pictures import photo_like, same_image

TULIPS = Path(__file__).resolve().parents[1] / "images" / "tulips.jpg"


def rgb_of(image):
    return np.asarray(image.convert("RGB"))


def distinct_colors(image):
    return len(np.unique(rgb_of(image).reshape(-1, 3), axis=0))


# --- result: type, size, mode, palette --------------------------------------------------------------

def test_opaque_photo_gives_a_palette_image_of_the_same_size():
    result = compress_image(Image.fromarray(photo_like()), 8, seed=0)
    assert isinstance(result, Image.Image)
    assert result.mode == "P" and result.size == (48, 32)
    assert 1 < distinct_colors(result) <= 8


def test_palette_is_the_kmeans_centroids():
    """Each colour is the rounded mean of the pixels that get it, as K-means' update step demands."""
    pixels = photo_like()
    result = compress_image(Image.fromarray(pixels), 4, seed=0)
    index = np.asarray(result)
    palette = np.array(result.getpalette()[:3 * 4]).reshape(-1, 3)
    for label in np.unique(index):
        mean = pixels[index == label].mean(axis=0)
        assert np.all(np.abs(palette[label] - mean) <= 1.0), (palette[label], mean)


@pytest.mark.parametrize("n_colors", [1, 2, 16, 256])
def test_never_more_colors_than_asked(n_colors):
    result = compress_image(Image.fromarray(photo_like(64, 64)), n_colors, seed=0)
    assert distinct_colors(result) <= n_colors


def test_saves_as_an_indexed_png(tmp_path):
    path = tmp_path / "out.png"
    compress_image(Image.fromarray(photo_like()), 16, seed=0).save(path)
    with Image.open(path) as saved:
        assert saved.mode == "P"
        assert saved.format == "PNG"


def test_accepts_str_and_pathlike(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(photo_like()).save(path)
    by_path = compress_image(path, 8, seed=3)
    by_str = compress_image(str(path), 8, seed=3)
    assert same_image(by_path, by_str)


def test_exif_orientation_is_applied(tmp_path):
    """A phone photo stored 48 x 32 with 'rotate 90' in its EXIF is displayed 32 x 48."""
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    Image.fromarray(photo_like()).save(path, exif=exif)
    assert compress_image(path, 8).size == (32, 48)


# --- modes -------------------------------------------------------------------------------------------

def make_mode(mode):
    """A small image in the given Pillow mode, made from the test photo."""
    rgb = Image.fromarray(photo_like())
    if mode == "P+transparency":
        image = rgb.quantize(64)
        image.info["transparency"] = 0
        return image
    if mode == "RGBA" or mode == "LA":
        image = rgb.convert(mode)
        alpha = np.tile(np.linspace(0, 255, 48).astype(np.uint8), (32, 1))
        image.putalpha(Image.fromarray(alpha))
        return image
    if mode == "P":
        return rgb.quantize(64)
    return rgb.convert(mode)


@pytest.mark.parametrize("mode, expected", [
    ("RGB", "P"), ("L", "P"), ("P", "P"), ("CMYK", "P"), ("1", "P"),
    ("RGBA", "P"), ("LA", "P"), ("P+transparency", "P"),
])
def test_every_usual_mode_works(mode, expected):
    result = compress_image(make_mode(mode), 8, seed=0)
    assert result.mode == expected and result.size == (48, 32)
    assert distinct_colors(result) <= 8


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P+transparency"])
def test_alpha_channel_is_kept(mode):
    """On/off alpha is kept exactly; graded alpha (48 levels here) is quantised along with the colours."""
    image = make_mode(mode)
    alpha = np.asarray(image.convert("RGBA"))[..., 3]
    result = np.asarray(compress_image(image, 8, seed=0).convert("RGBA"))[..., 3]
    if mode == "P+transparency":
        assert np.array_equal(result, alpha)
    else:
        assert np.all(result[alpha == 0] == 0)
        assert np.abs(result.astype(int) - alpha).mean() < 24


def test_fully_transparent_pixels_do_not_pull_the_palette():
    """Half the image is invisible bright red: the palette is fitted to the visible half only."""
    pixels = np.zeros((20, 40, 4), dtype=np.uint8)
    pixels[:, :20] = (0, 0, 255, 255)            # visible blue
    pixels[:, 20:] = (255, 0, 0, 0)              # invisible red
    pixels[:, :20, 1] = np.arange(20, dtype=np.uint8) * 10   # visible shades of blue-green
    result = np.asarray(compress_image(Image.fromarray(pixels), 2, seed=0).convert("RGBA"))
    assert np.array_equal(result[..., 3], pixels[..., 3])
    assert result[:, 20:, 0].max() == 0, "no palette colour is red: invisible pixels did not count"


def test_grayscale_stays_gray():
    result = compress_image(make_mode("L"), 8, seed=0)
    rgb = rgb_of(result)
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


# --- n_colors ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad, error", [
    (0, ValueError), (-3, ValueError), (257, ValueError),
    (16.0, TypeError), ("16", TypeError), (True, TypeError), (None, TypeError),
])
def test_bad_n_colors_says_what_is_allowed(bad, error):
    with pytest.raises(error, match="1 to 256"):
        compress_image(Image.fromarray(photo_like()), bad)


def test_numpy_integer_n_colors_is_accepted():
    assert compress_image(Image.fromarray(photo_like()), np.int64(4)).mode == "P"


def test_few_colors_are_kept_exactly():
    colors = np.array([[255, 0, 0], [0, 128, 0], [10, 20, 30], [250, 250, 250], [1, 2, 3]], dtype=np.uint8)
    pixels = colors[np.random.default_rng(0).integers(0, 5, size=(30, 30))]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = compress_image(Image.fromarray(pixels), 8)
    assert np.array_equal(rgb_of(result), pixels)


@pytest.mark.parametrize("n_distinct, n_colors", [(17, 16), (40, 32), (300, 256), (3, 3), (9, 1)])
def test_no_convergence_warning_reaches_the_user(n_distinct, n_colors):
    """Few distinct colours, most of them rare, is where scikit-learn warns about duplicate points."""
    rng = np.random.default_rng(n_distinct)
    colors = rng.integers(0, 256, size=(n_distinct, 3), dtype=np.uint8)
    choice = np.where(rng.random((40, 40)) < 0.9, 0, rng.integers(0, n_distinct, size=(40, 40)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = compress_image(Image.fromarray(colors[choice]), n_colors, seed=0)
    assert distinct_colors(result) <= n_colors


# --- bad files, untouched input ----------------------------------------------------------------------

def truncated_jpeg(path):
    buffer = io.BytesIO()
    Image.fromarray(photo_like(200, 200)).save(buffer, "JPEG")
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])


@pytest.mark.parametrize("kind", ["missing", "text", "empty", "truncated", "directory"])
def test_bad_file_raises_an_error_that_names_it(tmp_path, kind):
    path = tmp_path / f"bad_{kind}.jpg"
    if kind == "text":
        path.write_text("not an image")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        truncated_jpeg(path)
    elif kind == "directory":
        path.mkdir()
    with pytest.raises((OSError, ValueError)) as raised:
        compress_image(path, 8)
    assert str(path) in str(raised.value)


@pytest.mark.parametrize("source", [42, [[0, 0, 0]], b"\x89PNG", None])
def test_source_of_another_type_is_a_type_error(source):
    with pytest.raises(TypeError, match="path, a binary file object, a PIL.Image.Image or a NumPy array"):
        compress_image(source, 8)


def test_input_file_is_never_modified(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(photo_like()).save(path)
    before = hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns
    compress_image(path, 4)
    assert (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]


def test_input_image_object_is_not_modified():
    image = make_mode("RGBA")
    before = (image.mode, image.size, image.tobytes())
    compress_image(image, 4)
    assert (image.mode, image.size, image.tobytes()) == before


# --- reproducible, and as good as the best of 20 runs ------------------------------------------------

def test_same_input_and_seed_give_the_same_output():
    image = Image.fromarray(photo_like(64, 64))
    first, second = (compress_image(image, 16, seed=7) for _ in range(2))
    assert same_image(first, second)


@pytest.fixture(scope="module")
def tulips():
    """The tulips' pixels."""
    return np.asarray(Image.open(TULIPS).convert("RGB"))


@pytest.mark.parametrize("k", [8, 16, 32])
def test_quality_within_a_tenth_of_a_db_of_the_best_of_20_runs(tulips, k):
    reference = best_of_kmeans_psnr(tulips, k)
    result = psnr(tulips, rgb_of(compress_image(TULIPS, k)))
    assert result >= reference - 0.1, f"k={k}: {result:.3f} dB against best of 20 {reference:.3f} dB"


# --- psnr and nearest --------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(32, 48, 3), (32, 48), (1200, 1300, 3)])
def test_psnr_matches_scikit_image(shape):
    """The blockwise PSNR equals scikit-image's, also when the image spans several blocks."""
    from skimage.metrics import peak_signal_noise_ratio

    rng = np.random.default_rng(5)
    original = rng.integers(0, 256, size=shape, dtype=np.uint8)
    changed = np.clip(original + rng.integers(-20, 21, size=shape), 0, 255).astype(np.uint8)
    assert psnr(original, changed) == pytest.approx(peak_signal_noise_ratio(original, changed), abs=1e-9)


def test_psnr_of_identical_images_is_infinite_and_shapes_must_match():
    pixels = photo_like()
    assert psnr(pixels, pixels) == float("inf")
    with pytest.raises(ValueError, match="same shape"):
        psnr(pixels, pixels[:-1])


def test_nearest_finds_the_closest_center_by_brute_force():
    rng = np.random.default_rng(2)
    colors = rng.integers(0, 256, size=(500, 3), dtype=np.uint8)
    centers = rng.integers(0, 256, size=(7, 3)).astype(np.float64)
    distances = ((colors[:, None, :].astype(np.float64) - centers[None]) ** 2).sum(axis=2)
    chosen = distances[np.arange(len(colors)), nearest(colors, centers)]
    assert np.array_equal(chosen, distances.min(axis=1))
