"""The branches big photos take, reached on small ones by lowering their thresholds in the test: each
must give what the normal path gives (or, where it trades exactness for time, come within 0.05 dB)."""
import io
import sys

import numpy as np
import pytest
from PIL import Image

from colorquant import _colors, _kmeans, _order, _png, _quantize, compress_image, nearest, png_bytes, psnr
from colorquant._kmeans import _lloyd
from pictures import photo_like, same_image, same_pixels, with_alpha


@pytest.fixture(scope="module")
def photo():
    return photo_like(160, 120, seed=3)   # about 17,000 distinct colours


def numpy_only(monkeypatch):
    """Make the fit, nearest and the colour count run in NumPy, as without numba."""
    monkeypatch.setattr(_kmeans, "_kernels", lambda: None)


def compiled_always(monkeypatch):
    """Make the fit, nearest and the colour count use the compiled kernels whatever the size."""
    monkeypatch.setattr(_kmeans, "_KERNEL_WORK", 0)
    monkeypatch.setattr(_colors, "_FULL_COUNT_PIXELS", 0)


@pytest.mark.parametrize("kernels", [True, False], ids=["compiled", "numpy"])
def test_counting_in_one_pass_or_in_blocks_gives_what_sorting_gives(photo, monkeypatch, kernels):
    codes = _colors._color_codes(with_alpha(photo))   # the alpha byte must be masked off
    expected = np.unique(codes & _colors._RGB_MASK, return_counts=True)
    monkeypatch.setattr(_colors, "_FULL_COUNT_PIXELS", 0)   # the big-image branch
    monkeypatch.setattr(_colors, "_CHUNK", 1000)            # blocks of 2000 codes
    if not kernels:
        numpy_only(monkeypatch)
    distinct, counts = _colors._count_colors(codes)
    assert np.array_equal(distinct, expected[0]) and np.array_equal(counts, expected[1])


@pytest.mark.parametrize("n_colors", [16, 200])
def test_chunked_counting_and_indexing_give_the_normal_result(photo, monkeypatch, n_colors):
    normal = compress_image(photo, n_colors, seed=0)
    monkeypatch.setattr(_colors, "_FULL_COUNT_PIXELS", 0)
    monkeypatch.setattr(_quantize, "_CHUNK", 999)      # the index is written in blocks of 999 pixels
    monkeypatch.setattr(_order, "_COUNT_BLOCK", 777)   # and counted in blocks of 777
    assert same_image(compress_image(photo, n_colors, seed=0), normal)


@pytest.mark.parametrize("n_colors", [2, 16, 256])
def test_the_faster_png_effort_for_big_images_decodes_to_the_same_pixels(photo, monkeypatch, n_colors):
    result = compress_image(photo, n_colors, seed=0)
    normal = png_bytes(result)
    monkeypatch.setattr(_png, "_FULL_EFFORT_PIXELS", 0)
    fast = png_bytes(result)
    assert fast != normal   # the other branch ran
    with Image.open(io.BytesIO(fast)) as written:
        assert written.mode == "P" and same_pixels(written, result)


@pytest.mark.parametrize("n_colors", [16, 64])
def test_the_exact_stage_limit_stays_within_0_05_db(photo, monkeypatch, n_colors):
    normal = psnr(photo, compress_image(photo, n_colors, seed=0).convert("RGB"))
    monkeypatch.setattr(_kmeans, "_EXACT_LIMIT", 1000)   # the finest grid's fit is kept
    limited = psnr(photo, compress_image(photo, n_colors, seed=0).convert("RGB"))
    assert limited != normal and abs(limited - normal) <= 0.05, (limited, normal)


def test_sampled_adjacency_keeps_the_pixels_and_about_the_size(photo, monkeypatch):
    result = compress_image(photo, 64, seed=0)
    palette = np.array(result.getpalette()[:192]).reshape(-1, 3)
    index = np.asarray(result)
    normal = len(png_bytes(result))
    monkeypatch.setattr(_order, "_ADJACENT_PAIRS", 2000)   # every 19th row pair of the 120
    sampled_palette, sampled_index = _order._order_palette(palette, index)
    assert np.array_equal(sampled_palette[sampled_index], palette[index])
    sampled = _quantize.palette_image(sampled_palette, sampled_index)
    assert abs(len(png_bytes(sampled)) - normal) <= 0.05 * normal


@pytest.mark.parametrize("n_colors", [8, 64, 256])
def test_compiled_and_numpy_fits_reach_the_same_quality(photo, monkeypatch, n_colors):
    with monkeypatch.context() as patch:
        numpy_only(patch)
        by_numpy = psnr(photo, compress_image(photo, n_colors, seed=0).convert("RGB"))
    compiled_always(monkeypatch)
    first = compress_image(photo, n_colors, seed=0)
    assert same_image(compress_image(photo, n_colors, seed=0), first)   # the same seed, the same image
    assert abs(psnr(photo, first.convert("RGB")) - by_numpy) <= 0.05


def test_compiled_nearest_is_exact(monkeypatch):
    rng = np.random.default_rng(0)
    colors = np.sort(rng.integers(0, 256, size=(5000, 3)), axis=0).astype(np.uint8)
    centers = rng.uniform(0, 255, size=(50, 3))
    expected = ((colors[:, None].astype(float) - centers[None]) ** 2).sum(axis=2).argmin(axis=1)
    monkeypatch.setattr(_kmeans, "_KERNEL_WORK", 0)
    assert np.array_equal(nearest(colors, centers), expected)


@pytest.mark.parametrize("compiled", [False, True], ids=["numpy", "compiled"])
@pytest.mark.parametrize("columns, fixed", [(3, 0), (4, 1)])
def test_a_centre_far_from_every_point_moves_to_the_worst_served_point(compiled, columns, fixed):
    rng = np.random.default_rng(5)
    points = rng.uniform(0, 60, size=(400, columns))
    weights = rng.integers(1, 5, size=400).astype(float)
    start = np.vstack([points[:5], np.full((1, columns), 255.0)])   # the last centre gets no point
    if fixed:
        start = np.vstack([np.zeros((1, columns)), start])
    centers, labels = _lloyd(points, weights, start, 100, fixed, compiled)
    assert set(labels) == set(range(len(start)))     # no cluster left empty
    assert np.all(centers <= 60)                      # the far centre came among the points
    assert np.array_equal(centers[:fixed], start[:fixed])
    for j in range(fixed, len(start)):               # and each centre is its points' mean
        mine = labels == j
        assert np.allclose(centers[j], weights[mine] @ points[mine] / weights[mine].sum())


def test_without_numba_numpy_does_the_work(photo, monkeypatch):
    monkeypatch.setitem(sys.modules, "colorquant._kernels", None)   # import fails
    monkeypatch.delattr(sys.modules["colorquant"], "_kernels", raising=False)
    assert _kmeans._kernels.__wrapped__() is None
    numpy_only(monkeypatch)
    compiled_always(monkeypatch)   # the thresholds say compiled, but there is nothing to load
    assert compress_image(photo, 64, seed=0).mode == "P"
