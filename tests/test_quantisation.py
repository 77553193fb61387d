"""What compress_image makes of the pixels: palette, number of colours, seeds, dithering, quality.

Reading the input is in test_inputs.py; transparency in test_transparency.py; the PNG file in
test_png_output.py.
"""
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colorquant import compress_image, load_rgb, nearest, palette_image, psnr
from pictures import photo_like, same_image, with_alpha

TULIPS = Path(__file__).resolve().parents[1] / "images" / "tulips.jpg"

# The quality reference: best_of_kmeans_psnr(tulips, k, n_init=10, seed=0) in dB, the best of 10
# K-means restarts (k-means++, weighted distinct colours, centres rounded). Computed by
# `python -m benchmarks.reference` with numpy 2.4.6, scikit-learn 1.9.1, pillow 13.0.0; run it again
# after upgrading those and store what it prints.
BEST_OF_10_PSNR = {8: 21.941, 16: 24.775, 32: 26.954}


def rgb_of(image):
    return np.asarray(image.convert("RGB"))


def distinct_colors(image):
    return len(np.unique(rgb_of(image).reshape(-1, 3), axis=0))


# --- the result ------------------------------------------------------------------------------------

def test_opaque_photo_gives_a_palette_image_of_the_same_size():
    result = compress_image(Image.fromarray(photo_like()), 8, seed=0)
    assert isinstance(result, Image.Image)
    assert result.mode == "P" and result.size == (48, 32)
    assert 1 < distinct_colors(result) <= 8


def test_palette_is_the_kmeans_centroids():
    """Each colour is the rounded mean of the pixels that get it, as K-means' update step demands."""
    pixels = photo_like()
    result = compress_image(Image.fromarray(pixels), 4, seed=0)
    shown = rgb_of(result).reshape(-1, 3)
    for color in np.unique(shown, axis=0):
        mean = pixels.reshape(-1, 3)[(shown == color).all(axis=1)].mean(axis=0)
        assert np.all(np.abs(color - mean) <= 1.0), (color, mean)


def test_every_pixel_gets_its_nearest_palette_colour():
    pixels = photo_like()
    shown = rgb_of(compress_image(pixels, 6, seed=0)).reshape(-1, 3).astype(int)
    palette = np.unique(shown, axis=0)
    distances = ((pixels.reshape(-1, 1, 3).astype(int) - palette[None]) ** 2).sum(axis=2)
    assert np.array_equal(((pixels.reshape(-1, 3) - shown) ** 2).sum(axis=1), distances.min(axis=1))


@pytest.mark.parametrize("n_colors", [1, 2, 16, 256])
def test_never_more_colors_than_asked(n_colors):
    result = compress_image(Image.fromarray(photo_like(64, 64)), n_colors, seed=0)
    assert distinct_colors(result) == n_colors      # the photo has 4096 distinct colours


def test_fully_transparent_pixels_do_not_pull_the_palette():
    """Half the image is invisible bright red: the palette is fitted to the visible half only."""
    pixels = np.zeros((20, 40, 4), dtype=np.uint8)
    pixels[:, :20] = (0, 0, 255, 255)            # visible blue
    pixels[:, 20:] = (255, 0, 0, 0)              # invisible red
    pixels[:, :20, 1] = np.arange(20, dtype=np.uint8) * 10   # visible shades of blue-green
    result = np.asarray(compress_image(Image.fromarray(pixels), 2, seed=0).convert("RGBA"))
    assert np.all(result[:, 20:, 3] == 0) and np.all(result[:, :20, 3] == 255)
    assert result[:, :20, 0].max() == 0, "no visible colour is red: invisible pixels did not count"


# --- n_colors --------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad, error", [
    (0, ValueError), (-3, ValueError), (257, ValueError),
    (16.0, TypeError), ("16", TypeError), (True, TypeError), (None, TypeError),
])
def test_bad_n_colors_says_what_is_allowed(bad, error):
    with pytest.raises(error, match=f"n_colors must be an int from 1 to 256, got {bad!r}"):
        compress_image(Image.fromarray(photo_like()), bad)


def test_numpy_integer_n_colors_gives_the_same_as_the_int():
    image = Image.fromarray(photo_like())
    assert same_image(compress_image(image, np.int64(4)), compress_image(image, 4))


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


# --- seed ------------------------------------------------------------------------------------------

def test_same_input_and_seed_give_the_same_output():
    image = Image.fromarray(photo_like(64, 64))
    first, second = (compress_image(image, 16, seed=7) for _ in range(2))
    assert same_image(first, second)


@pytest.mark.parametrize("seed", [0, 2**32 - 1, np.uint32(2**32 - 1), None])
def test_valid_seeds_are_accepted(seed):
    result = compress_image(photo_like(), 8, seed=seed)
    assert result.mode == "P" and distinct_colors(result) == 8


def test_numpy_integer_seed_gives_the_same_as_the_int():
    pixels = photo_like()
    assert same_image(compress_image(pixels, 8, seed=np.int64(5)), compress_image(pixels, 8, seed=5))


@pytest.mark.parametrize("bad, error", [
    (-1, ValueError), (2**32, ValueError), (True, TypeError), (1.5, TypeError), ("0", TypeError),
    (np.random.default_rng(0), TypeError),
])
def test_bad_seed_names_seed_and_the_range(bad, error):
    with pytest.raises(error, match=r"seed must be an int from 0 to 2\*\*32 - 1 or None, got "):
        compress_image(photo_like(), 8, seed=bad)


# --- dithering -------------------------------------------------------------------------------------

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
    colors = {name: {tuple(c) for c in rgb_of(image).reshape(-1, 3)}
              for name, image in (("plain", plain), ("dithered", dithered))}
    assert colors["dithered"] <= colors["plain"]
    error = {name: np.abs(block_means(rgb_of(image)) - block_means(pixels)).mean()
             for name, image in (("plain", plain), ("dithered", dithered))}
    assert error["dithered"] < 0.5 * error["plain"], error


def test_dither_with_transparency_keeps_invisible_pixels_and_the_palette():
    array = with_alpha(photo_like())
    plain = np.asarray(compress_image(array, 4, seed=0).convert("RGBA"))
    result = np.asarray(compress_image(array, 4, seed=0, dither=True).convert("RGBA"))
    assert np.all(result[..., 3][array[..., 3] == 0] == 0), "invisible pixels stay invisible"
    assert not np.array_equal(result, plain), "dithering changed the mapping"
    assert {tuple(c) for c in result.reshape(-1, 4)} <= {tuple(c) for c in plain.reshape(-1, 4)}


def test_dither_with_few_colors_keeps_them_exactly():
    colors = np.array([[255, 0, 0], [0, 0, 255], [9, 9, 9]], dtype=np.uint8)
    pixels = colors[np.random.default_rng(0).integers(0, 3, size=(20, 20))]
    assert np.array_equal(rgb_of(compress_image(pixels, 8, dither=True)), pixels)


# --- quality: as good as the best of 10 K-means runs -----------------------------------------------

@pytest.fixture(scope="module")
def tulips():
    """The tulips' pixels, as compress_image reads them."""
    return load_rgb(TULIPS)


@pytest.mark.parametrize("k", sorted(BEST_OF_10_PSNR))
def test_quality_within_a_tenth_of_a_db_of_the_best_of_10_runs(tulips, k):
    result = psnr(tulips, rgb_of(compress_image(TULIPS, k)))
    reference = BEST_OF_10_PSNR[k]
    assert result >= reference - 0.1, f"k={k}: {result:.3f} dB against the best of 10, {reference:.3f} dB"


# --- psnr, nearest and palette_image ---------------------------------------------------------------

@pytest.mark.parametrize("shape", [(32, 48, 3), (1200, 1300, 3)])
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


def test_palette_image_shows_the_palette_colour_of_each_index():
    palette = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]], dtype=np.uint8)
    index = np.array([[0, 1, 2], [2, 1, 0]], dtype=np.uint8)
    image = palette_image(palette, index)
    assert image.mode == "P" and image.size == (3, 2)
    assert np.array_equal(rgb_of(image), palette[index])


# --- defects of issue 18: nearest without centres, palette values, counting colours in bounded memory ------

def test_nearest_without_centres_is_a_clear_error():
    with pytest.raises(ValueError, match=r"at least one centre, got centers of shape \(0, 3\)"):
        nearest(photo_like().reshape(-1, 3), np.empty((0, 3)))


@pytest.mark.parametrize("palette, message", [
    ([[256, 0, 0]], "palette values must be numbers from 0 to 255, got values from 0 to 256"),
    ([[-1, 0, 0]], "palette values must be numbers from 0 to 255, got values from -1 to 0"),
    ([[300.0, 0, 0]], "palette values must be numbers from 0 to 255, got values from 0 to 300"),
    ([[np.nan, 0, 0]], "palette values must be numbers from 0 to 255"),
    ([[0, 0]], r"palette must have shape \(n, 3\) or \(n, 4\)"),
])
def test_palette_image_refuses_values_that_would_wrap(palette, message):
    with pytest.raises(ValueError, match=message):
        palette_image(palette, np.zeros((2, 2), dtype=np.uint8))


def test_palette_image_refuses_an_index_past_the_palette_and_rounds_float_colours():
    with pytest.raises(ValueError, match="index values must be integers from 0 to 1, got values from 0 to 2"):
        palette_image([[0, 0, 0], [9, 9, 9]], np.array([[0, 2]]))
    wrapping = "index values must be integers from 0 to 0, got values from 0 to 256"
    with pytest.raises(ValueError, match=wrapping):
        palette_image([[0, 0, 0]], np.array([[0, 256]]))
    with pytest.raises(ValueError, match="alpha values must be numbers from 0 to 255"):
        palette_image([[0, 0, 0]], np.zeros((1, 2), dtype=int), alpha=np.full((1, 2), 999))
    image = palette_image([[10.4, 20.6, 254.5]], np.zeros((1, 1), dtype=int))
    assert image.convert("RGB").getpixel((0, 0)) == (10, 21, 254)


def test_counting_the_colours_of_a_big_image_takes_bounded_memory_and_counts_exactly():
    """From _FULL_COUNT_PIXELS (4 MP) on, the colours are counted in histograms of an eighth of the codes
    each; before, two of 128 MiB each (and a 64 MiB copy) were alive at once."""
    import tracemalloc

    from colorquant._colors import _FULL_COUNT_PIXELS, _count_colors

    rng = np.random.default_rng(0)
    colors = rng.integers(0, 1 << 32, size=50_000, dtype=np.uint32)   # alpha in the top byte: masked off
    codes = colors[rng.integers(0, len(colors), size=_FULL_COUNT_PIXELS)]
    expected = np.unique(codes & 0xFFFFFF, return_counts=True)
    tracemalloc.start()
    try:
        distinct, counts = _count_colors(codes)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert np.array_equal(distinct, expected[0]) and np.array_equal(counts, expected[1])
    assert peak < 96 * 2**20, f"{peak / 2**20:.0f} MiB"
    small = codes[: _FULL_COUNT_PIXELS // 8]          # the sorting path gives the same
    sorted_counts, expected = _count_colors(small), np.unique(small & 0xFFFFFF, return_counts=True)
    assert np.array_equal(sorted_counts[0], expected[0]) and np.array_equal(sorted_counts[1], expected[1])
