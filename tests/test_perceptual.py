"""The eye's scores and spaces: Oklab round trips, delta_e against scikit-image's CIEDE2000, space="oklab".

scikit-image is a test-only reference here; the package itself never imports it.
"""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage.color import deltaE_ciede2000, rgb2lab

from colorquant import compress_image, delta_e, load_rgb
from colorquant._oklab import _from_points, _to_points, oklab_to_srgb, srgb_to_oklab
from pictures import photo_like, with_alpha

TULIPS = Path(__file__).resolve().parents[1] / "images" / "tulips.jpg"
LEVELS = np.r_[0:256:3, 1, 254, 255]          # 89 levels a channel, the extremes among them
ALL_COLORS = np.stack(np.meshgrid(LEVELS, LEVELS, LEVELS, indexing="ij"), -1).reshape(-1, 3).astype(np.uint8)


def skimage_delta_e(a, b):
    return float(deltaE_ciede2000(rgb2lab(a), rgb2lab(b)).mean())


# --- Oklab ------------------------------------------------------------------------------------------

def test_oklab_of_white_black_and_primaries_is_ottossons():
    """Reference values from Björn Ottosson's post (white: L 1, a = b = 0) and of sRGB red, to 1e-4."""
    lab = srgb_to_oklab(np.array([[255, 255, 255], [0, 0, 0], [255, 0, 0]], dtype=np.uint8))
    assert np.allclose(lab[0], [1, 0, 0], atol=1e-6)
    assert np.allclose(lab[1], [0, 0, 0], atol=1e-12)
    assert np.allclose(lab[2], [0.62796, 0.22486, 0.12585], atol=1e-4)


def test_srgb_colours_round_trip_through_oklab_and_its_kmeans_box():
    lab = srgb_to_oklab(ALL_COLORS)
    # Ottosson's matrices are printed to 10 decimals, so the inverse is exact to about 5e-4 of a level
    assert np.abs(oklab_to_srgb(lab) - ALL_COLORS).max() < 1e-3
    points = _to_points(ALL_COLORS)
    assert points.min() >= 0 and points.max() < 256, "K-means' grid histograms need values in 0..255"
    assert np.array_equal(_from_points(points), ALL_COLORS)


def test_the_kmeans_box_keeps_the_distances_of_oklab_with_a_and_b_doubled_up_to_one_scale():
    rng = np.random.default_rng(0)
    a, b = (ALL_COLORS[rng.integers(0, len(ALL_COLORS), 1000)] for _ in range(2))
    in_box = np.linalg.norm(_to_points(a) - _to_points(b), axis=1)
    in_oklab = np.linalg.norm((srgb_to_oklab(a) - srgb_to_oklab(b)) * [1, 2, 2], axis=1)   # ΔEOK2
    assert np.allclose(in_box, 249 * in_oklab)


# --- delta_e ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("k", [2, 16, 64])
def test_delta_e_equals_scikit_images_ciede2000_on_a_photo(k):
    photo = load_rgb(TULIPS)
    result = np.asarray(compress_image(photo, k, seed=0).convert("RGB"))
    assert delta_e(photo, result) == pytest.approx(skimage_delta_e(photo, result), abs=1e-6)


def test_delta_e_equals_scikit_images_on_hard_cases():
    """Random colours, grays (chroma 0: the hue conventions), equal pixels, float and PIL inputs."""
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    b[:5] = a[:5]
    a[5:10], b[5:10] = 128, 120                            # gray against gray
    a[10:15] = rng.integers(0, 256, (5, 1, 1), dtype=np.uint8)   # grays against colours
    expected = skimage_delta_e(a, b)
    assert delta_e(a, b) == pytest.approx(expected, abs=1e-6)
    assert delta_e(a / 255, b.astype(np.uint16) * 257) == pytest.approx(expected, abs=1e-6)
    assert delta_e(Image.fromarray(a), Image.fromarray(b)) == pytest.approx(expected, abs=1e-6)
    assert delta_e(a, a) == 0


def test_delta_e_with_alpha_counts_colours_as_shown_over_black():
    rgba = with_alpha(photo_like())
    other = rgba.copy()
    other[..., :3] = 255 - other[..., :3]
    shown = [(image[..., :3] * (image[..., 3:] / 255)) / 255 for image in (rgba, other)]
    assert delta_e(rgba, other) == pytest.approx(skimage_delta_e(*shown), abs=1e-6)
    invisible = rgba.copy()
    invisible[..., 3] = 0
    assert delta_e(invisible, np.zeros_like(invisible)) == 0   # invisible colours do not count
    assert delta_e(rgba[..., :3], np.dstack([rgba[..., :3], np.full(rgba.shape[:2], 255, np.uint8)])) == 0


def test_delta_e_names_the_bad_input():
    with pytest.raises(ValueError, match="same size"):
        delta_e(np.zeros((2, 2, 3), np.uint8), np.zeros((2, 3, 3), np.uint8))
    with pytest.raises(ValueError, match="original"):
        delta_e(np.full((2, 2, 3), 2.0), np.zeros((2, 2, 3)))
