"""Palette control and transparency kept as the eye expects: dithering strength, a shared palette, a given
palette, opaque pixels on opaque entries and invisible ones on the transparent entry; their command line."""
import numpy as np
import pytest
from PIL import Image

from colorquant import compress_image, compress_images, delta_e, main, nearest, psnr
from colorquant._quantize import _Pixels, _quantize
from pictures import icon_sheet, photo_like, with_alpha


def rgba_of(image):
    return np.asarray(image.convert("RGBA"))


def palette_rows(image):
    return np.array(image.getpalette("RGBA")).reshape(-1, 4)


# --- dithering strength -----------------------------------------------------------------------------

@pytest.mark.parametrize("space", ["rgb", "oklab"])
@pytest.mark.parametrize("alpha", [False, True])
def test_dither_zero_is_exactly_no_dithering_and_true_is_one(space, alpha):
    pixels = with_alpha(photo_like()) if alpha else photo_like()
    plain = compress_image(pixels, 6, space=space)
    for off in (0, 0.0, False):
        assert compress_image(pixels, 6, space=space, dither=off).tobytes() == plain.tobytes()
    full = compress_image(pixels, 6, space=space, dither=1.0)
    assert compress_image(pixels, 6, space=space, dither=True).tobytes() == full.tobytes()
    assert full.tobytes() != plain.tobytes()


def test_dither_strength_spreads_less_error_at_half():
    """On a smooth ramp, 8 x 8 block means move toward the original as the strength goes 0, 0.5, 1."""
    y, x = np.mgrid[0:64, 0:128]
    ramp = np.dstack([x * 2, x * 2, 128 + y]).astype(np.uint8)

    def block_error(strength):
        shown = rgba_of(compress_image(ramp, 4, seed=0, dither=strength))[..., :3].astype(float)
        means = (shown - ramp).reshape(8, 8, 16, 8, 3).mean(axis=(1, 3))
        return np.abs(means).mean()

    none, half, full = block_error(0), block_error(0.5), block_error(1)
    assert full < half < none, (none, half, full)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "1", None])
def test_bad_dither_and_space_are_named(bad):
    with pytest.raises(ValueError, match="dither must be a number from 0 to 1"):
        compress_image(photo_like(), 4, dither=bad)
    with pytest.raises(ValueError, match="space must be 'rgb' or 'oklab', got 'lab'"):
        compress_image(photo_like(), 4, space="lab")


# --- the perceptual space ---------------------------------------------------------------------------

def test_oklab_trades_psnr_for_a_lower_colour_difference():
    photo = photo_like(96, 64, seed=4)
    scores = {}
    for space in ("rgb", "oklab"):
        shown = rgba_of(compress_image(photo, 8, seed=0, space=space))[..., :3]
        scores[space] = psnr(photo, shown), delta_e(photo, shown)
    assert scores["oklab"][1] < scores["rgb"][1], scores
    assert scores["oklab"][0] < scores["rgb"][0], scores


def test_report_delta_e_is_delta_e_exact_undithered_and_on_all_pixels_of_a_small_image():
    photo = photo_like()
    for dither in (0, 1):
        pixels = _Pixels(np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)]), False)
        result = _quantize(pixels, 5, 0, dither, "oklab")
        score, sampled = result.delta_e(pixels)
        assert not sampled
        assert score == pytest.approx(delta_e(photo, rgba_of(result.image())[..., :3]), abs=1e-9)


# --- opaque stays opaque, invisible stays invisible --------------------------------------------------

@pytest.mark.parametrize("space", ["rgb", "oklab"])
@pytest.mark.parametrize("dither", [0, 1])
def test_opaque_pixels_get_opaque_entries_and_invisible_ones_the_transparent_entry(space, dither):
    sheet = np.asarray(icon_sheet())
    assert 0 < (sheet[..., 3] == 255).mean() < 1 and ((sheet[..., 3] > 0) & (sheet[..., 3] < 255)).any()
    result = rgba_of(compress_image(sheet, 16, seed=0, space=space, dither=dither))
    assert (result[sheet[..., 3] == 255, 3] == 255).all()
    assert (result[sheet[..., 3] == 0, 3] == 0).all()


def test_snapping_keeps_the_premultiplied_error_of_the_unconstrained_fit():
    """The icon sheet at k = 16: the snapped palette's PSNR is within 0.2 dB of plain premultiplied
    K-means (which leaves opaque pixels at alpha 251 to 254)."""
    sheet = np.asarray(icon_sheet())
    snapped = psnr(sheet, rgba_of(compress_image(sheet, 16, seed=0)))
    points = np.concatenate([sheet[..., :3] * (sheet[..., 3:] / 255), sheet[..., 3:]], axis=-1).reshape(-1, 4)
    from colorquant._kmeans import _fit_palette
    centres = _fit_palette(points, np.ones(len(points)), 16, 0, np.zeros((1, 4)))
    plain = centres[nearest(points, centres)]
    error = ((plain - points) ** 2).sum() / (3 * len(points))
    assert snapped >= 10 * np.log10(255 ** 2 / error) - 0.2


# --- one palette for several images -----------------------------------------------------------------

def test_compress_images_share_one_palette_fitted_to_all_pixels():
    red = np.zeros((30, 40, 3), np.uint8)
    red[..., 0] = np.arange(40) + 200
    blue = np.zeros((10, 20, 3), np.uint8)
    blue[..., 2] = np.arange(20) + 100
    results = compress_images([red, blue], 4, seed=0)
    assert [result.size for result in results] == [(40, 30), (20, 10)]
    assert results[0].getpalette() == results[1].getpalette()
    alone = compress_image(np.concatenate([red.reshape(-1, 3), blue.reshape(-1, 3)])[None], 4, seed=0)
    assert sorted(map(tuple, palette_rows(alone))) == sorted(map(tuple, palette_rows(results[0])))
    for source, result in zip([red, blue], results, strict=True):   # each pixel on its nearest entry
        entries = palette_rows(result)[:, :3]
        assert np.array_equal(np.asarray(result).ravel(), nearest(source.reshape(-1, 3), entries))


def test_compress_images_mixes_opaque_and_transparent_inputs():
    opaque, sheet = photo_like(), np.asarray(icon_sheet())
    results = compress_images([opaque, sheet], 16, seed=0, dither=0.5)
    assert results[0].getpalette("RGBA") == results[1].getpalette("RGBA")
    assert (rgba_of(results[0])[..., 3] == 255).all()
    assert (rgba_of(results[1])[sheet[..., 3] == 0, 3] == 0).all()


def test_compress_images_names_bad_input():
    with pytest.raises(ValueError, match="sources is empty"):
        compress_images([], 4)
    with pytest.raises(TypeError, match="a list of images"):
        compress_images(photo_like(), 4)
    with pytest.raises(OSError, match="missing.png"):
        compress_images([photo_like(), "missing.png"], 4)


# --- a given palette --------------------------------------------------------------------------------

def test_a_given_palette_is_used_exactly_in_its_order():
    photo = photo_like()
    given = np.array([[250, 250, 250], [10, 10, 10], [200, 30, 30], [30, 30, 200]], np.uint8)
    result = compress_image(photo, palette=given)
    assert np.array_equal(np.array(result.getpalette()).reshape(-1, 3), given)
    assert np.array_equal(np.asarray(result).ravel(), nearest(photo.reshape(-1, 3), given))
    oklab = compress_image(photo, palette=given.tolist(), space="oklab")
    assert np.array_equal(np.array(oklab.getpalette()).reshape(-1, 3), given)


def test_a_palette_image_gives_its_palette_in_order_and_other_images_their_colours(tmp_path):
    first = compress_image(photo_like(), 6, seed=1)
    result = compress_image(photo_like(seed=2), palette=first)
    assert result.getpalette() == first.getpalette()
    first.save(tmp_path / "palette.png")
    from_file = compress_image(photo_like(seed=2), palette=tmp_path / "palette.png")
    assert from_file.getpalette() == first.getpalette()
    swatch = np.array([[[0, 0, 255], [255, 0, 0]], [[0, 0, 255], [0, 255, 0]]], np.uint8)
    rows = np.array(compress_image(photo_like(), palette=Image.fromarray(swatch)).getpalette()).reshape(-1, 3)
    assert rows.tolist() == [[255, 0, 0], [0, 255, 0], [0, 0, 255]]   # by code: red, green, blue fastest


def test_a_given_rgba_palette_keeps_transparency_opaque_and_invisible():
    pixels = with_alpha(photo_like())
    given = np.array([[0, 0, 0, 0], [255, 255, 255, 255], [0, 0, 0, 255], [200, 100, 50, 128]], np.uint8)
    result = rgba_of(compress_image(pixels, palette=given))
    assert (result[pixels[..., 3] == 0, 3] == 0).all()
    assert (result[pixels[..., 3] == 255, 3] == 255).all()


@pytest.mark.parametrize("bad, message", [
    ([], "1 to 256 colours, got 0"),
    (np.zeros((257, 3), np.uint8), "1 to 256 colours, got 257"),
    ([[0, 0, 300]], "ints from 0 to 255"),
    (np.zeros((4, 2)), r"\(n, 3\) RGB or \(n, 4\) RGBA rows"),
    (Image.fromarray(photo_like()), "has 1536 colours; a palette has at most 256"),
    ("no-such-palette.png", "no-such-palette.png"),
])
def test_bad_palettes_are_named(bad, message):
    error = OSError if isinstance(bad, str) else ValueError
    with pytest.raises(error, match=message):
        compress_image(photo_like(), palette=bad)


# --- the command line -------------------------------------------------------------------------------

def run(capsys, *args):
    status = main([str(arg) for arg in args])
    out, err = capsys.readouterr()
    return status, out.splitlines(), err.splitlines()


@pytest.fixture
def frames(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    paths = []
    for seed in range(3):
        paths.append(tmp_path / f"frame{seed}.png")
        Image.fromarray(photo_like(seed=seed)).save(paths[-1])
    return paths


def test_shared_writes_every_file_with_the_same_palette(frames, capsys):
    status, out, _ = run(capsys, "--shared", "-k", 8, "--dither=0.5", "--out-dir", "out", *frames)
    assert status == 0 and len(out) == 3 and all("shared palette of 8" in line for line in out)
    written = [Image.open(f"out/frame{seed}_k8.png") for seed in range(3)]
    assert len({tuple(image.getpalette()) for image in written}) == 1
    expected = compress_images(frames, 8, seed=0, dither=0.5)
    assert all(np.array_equal(rgba_of(a), rgba_of(b)) for a, b in zip(written, expected, strict=True))


@pytest.mark.parametrize("clash", [["-o", "x.png"], ["--min-psnr", "30"], ["--palette", "frame0.png"]])
def test_shared_is_a_usage_error_with_o_min_psnr_and_palette(frames, capsys, clash):
    status, _, err = run(capsys, "--shared", *clash, *frames[:1])
    assert status == 2 and "--shared cannot be used with" in err[-1]
    assert run(capsys, "--shared", "-")[0] == 2


def test_shared_writes_nothing_when_an_input_fails(frames, capsys):
    status, out, err = run(capsys, "--shared", frames[0], "missing.png")
    assert status == 1 and out == [] and any("missing.png" in line for line in err)
    assert not list(frames[0].parent.glob("*_k16.png"))


def test_palette_file_maps_onto_its_colours(frames, capsys):
    compress_image(frames[0], 5, seed=0).save("five.png")
    assert run(capsys, "--palette", "five.png", frames[1])[0] == 0
    assert Image.open("frame1_k5.png").getpalette() == Image.open("five.png").getpalette()
    status, _, err = run(capsys, "--palette", "nothing.png", frames[1])
    assert status == 2 and "nothing.png" in err[-1]
    assert run(capsys, "--palette", "five.png", "-k", 4, frames[1])[0] == 2


def test_dither_alone_keeps_the_next_word_a_file_and_level_sets_the_strength(frames, capsys):
    assert run(capsys, "--dither", frames[0])[0] == 0
    assert np.array_equal(rgba_of(Image.open("frame0_k16.png")), rgba_of(compress_image(frames[0], dither=1)))
    assert run(capsys, "--dither=0.25", "--space", "oklab", "--force", frames[0])[0] == 0
    expected = compress_image(frames[0], dither=0.25, space="oklab")
    assert np.array_equal(rgba_of(Image.open("frame0_k16.png")), rgba_of(expected))
    status, _, err = run(capsys, "--dither=2", frames[0])
    assert status == 2 and "from 0 to 1" in err[-1]


def test_verbose_reports_delta_e_of_the_written_file(frames, capsys):
    _, out, _ = run(capsys, "-v", "-k", 6, frames[0])
    reported = float(out[0].split("ΔE2000 ")[1].split(",")[0])
    written = rgba_of(Image.open("frame0_k6.png"))[..., :3]
    assert reported == pytest.approx(delta_e(np.asarray(Image.open(frames[0])), written), abs=0.005)
    _, out, _ = run(capsys, "-k", 6, "--force", frames[0])
    assert "ΔE2000" not in out[0]


@pytest.mark.parametrize("space", ["rgb", "oklab"])
@pytest.mark.parametrize("alpha", [False, True])
@pytest.mark.parametrize("k", [5, 60])   # 60: more entries than are all measured, so the search from a guess
def test_the_dithering_kernels_as_plain_python_give_the_same_indices(monkeypatch, space, alpha, k):
    """Without numba the kernels run as plain Python: the same code, so the same result (checked here by
    running the compiled functions' Python source)."""
    import colorquant._dither as dither

    pixels = with_alpha(photo_like(40, 24)) if alpha else photo_like(40, 24)
    compiled = compress_image(pixels, k, seed=0, space=space, dither=0.75)
    for name in ("_diffuse", "_diffuse_opaque"):
        monkeypatch.setattr(dither, name, getattr(dither, name).py_func)
    plain = compress_image(pixels, k, seed=0, space=space, dither=0.75)
    assert compiled.tobytes() == plain.tobytes() and compiled.getpalette() == plain.getpalette()


def test_verbose_says_when_delta_e_is_measured_on_a_sample(tmp_path, monkeypatch, capsys):
    """Dithered and over 2**20 pixels: a fixed sample, and the line says so; undithered: exact, all pixels."""
    monkeypatch.chdir(tmp_path)
    big = np.tile(photo_like(64, 64), (17, 16, 1))[:1025, :1024]   # 1 049 600 pixels
    Image.fromarray(big).save("big.png")
    _, out, _ = run(capsys, "-v", "-k", 4, "--dither", "big.png")
    assert "(on a sample of 2**20 pixels)" in out[0]
    reported = float(out[0].split("ΔE2000 ")[1].split(" ")[0])
    written = rgba_of(Image.open("big_k4.png"))[..., :3]
    assert reported == pytest.approx(delta_e(big, written), rel=0.02)   # a sample: close to all pixels
    _, out, _ = run(capsys, "-v", "-k", 4, "--force", "big.png")
    assert "sample" not in out[0]
