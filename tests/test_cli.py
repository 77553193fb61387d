"""The command line, run in-process as main([...]) on images the tests make; three subprocess smoke tests.

What a careful pngquant user relies on: outputs beside the inputs or where asked, nothing overwritten,
one line per file, a batch that nothing stops, stdin to stdout, a quality target, --skip-if-larger.
"""
import io
import os
import re
import signal
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, PngImagePlugin

import colorquant
import colorquant._cli
import colorquant._png
import colorquant._quantize
from colorquant import compress_image, main, png_bytes, psnr
from pictures import (
    animated_gif_bytes,
    corrupt_exif_bytes,
    files_in,
    fingerprint,
    photo_like,
    same_image,
    same_pixels,
    with_alpha,
)

# [i/n] output: [k N, ]colours, kB, PSNR, seconds (groups: i, n, output, k, colours, kB, PSNR, seconds)
REPORT = re.compile(r"^\[(\d+)/(\d+)\] (.+): (?:k (\d+), )?(\d+) colours, (\d+\.\d) kB, "
                    r"PSNR (\d+\.\d\d|inf) dB, (\d+\.\d\d) s$")
TEMPORARY = re.compile(r"^\.colorquant-.*\.tmp$")


@pytest.fixture
def photo(tmp_path, monkeypatch):
    """photo.png (64 x 40) in tmp_path, which is also the working folder."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "photo.png"
    Image.fromarray(photo_like(64, 40)).save(path)
    return path


def run(capsys, *args):
    """main(args) in-process: (exit status, stdout lines, stderr lines)."""
    status = main([str(arg) for arg in args])
    out, err = capsys.readouterr()
    return status, out.splitlines(), err.splitlines()


def usage_error(capsys, *args):
    """main(args) must be a usage error (status 2, usage line); its message."""
    status, out, err = run(capsys, *args)
    assert status == 2 and out == [] and err[0].startswith("usage: colorquant")
    return err[-1]


# --- outputs -----------------------------------------------------------------------------------------

def test_default_writes_beside_the_input_what_compress_image_gives(tmp_path, photo, capsys):
    before = fingerprint(photo)
    status, _, err = run(capsys, "photo.png")
    assert (status, err) == (0, [])
    assert files_in(tmp_path) == ["photo.png", "photo_k16.png"]
    assert fingerprint(photo) == before
    written = (tmp_path / "photo_k16.png").read_bytes()
    assert written == png_bytes(compress_image(photo, 16, seed=0))
    with Image.open(tmp_path / "photo_k16.png") as image:
        assert image.format == "PNG" and image.mode == "P"


def test_report_line_gives_path_colors_size_psnr_and_time(tmp_path, photo, capsys):
    _, (line,), _ = run(capsys, photo)
    number, total, path, chosen, colors, kilobytes, quality, _ = REPORT.match(line).groups()
    output = tmp_path / "photo_k16.png"
    assert (number, total, Path(path), chosen) == ("1", "1", output, None)
    assert float(kilobytes) == round(output.stat().st_size / 1000, 1)
    with Image.open(output) as written, Image.open(photo) as original:
        assert int(colors) == len(np.unique(np.asarray(written.convert("RGB")).reshape(-1, 3), axis=0))
        expected = psnr(np.asarray(original.convert("RGB")), np.asarray(written.convert("RGB")))
    assert float(quality) == pytest.approx(expected, abs=0.005)


def test_k_seed_and_dither_match_compress_image(tmp_path, photo, capsys):
    assert run(capsys, "-k", 5, "--seed", 7, "--dither", photo)[0] == 0
    with Image.open(tmp_path / "photo_k5.png") as written:
        assert same_image(written, compress_image(photo, 5, seed=7, dither=True))


def test_transparent_image_keeps_its_pixels_and_psnr_counts_alpha(tmp_path, photo, capsys):
    Image.fromarray(with_alpha(photo_like())).save(tmp_path / "logo.png")
    status, (line,), _ = run(capsys, "-k", 8, "logo.png")
    assert status == 0
    expected = compress_image(tmp_path / "logo.png", 8, seed=0)
    with Image.open(tmp_path / "logo_k8.png") as written:
        assert same_pixels(written, expected)
        rgba = np.asarray(written.convert("RGBA"))
    quality = float(REPORT.match(line).group(7))
    assert quality == pytest.approx(psnr(with_alpha(photo_like()), rgba), abs=0.005)


def test_report_counts_colours_with_their_alpha(tmp_path, photo, capsys):
    """One colour under 40 levels of alpha: the palette's entries differ in alpha only, and all count."""
    rgba = np.zeros((16, 40, 4), dtype=np.uint8)
    rgba[..., :3] = (40, 30, 60)
    rgba[..., 3] = np.arange(40, dtype=np.uint8) * 6
    Image.fromarray(rgba, "RGBA").save(tmp_path / "shadow.png")
    status, (line,), _ = run(capsys, "-k", 8, "shadow.png")
    with Image.open(tmp_path / "shadow_k8.png") as written:
        entries = {tuple(rgba) for rgba in np.asarray(written.convert("RGBA")).reshape(-1, 4)}
    assert status == 0 and int(REPORT.match(line).group(5)) == len(entries) == 8


def test_icc_profile_is_kept_in_the_output(tmp_path, photo, capsys):
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(photo_like()).save(tmp_path / "phone.jpg", icc_profile=profile)
    assert run(capsys, "phone.jpg")[0] == 0
    with Image.open(tmp_path / "phone_k16.png") as written:
        assert written.info["icc_profile"] == profile


def test_exif_rotated_photo_is_written_upright(tmp_path, photo, capsys, rotated_jpeg):
    assert run(capsys, "--out-dir", tmp_path, rotated_jpeg)[0] == 0
    with Image.open(tmp_path / "phone_k16.png") as written:
        assert written.size == (32, 48)


def test_out_dir_is_created_and_holds_the_outputs(tmp_path, photo, capsys):
    Image.fromarray(photo_like(seed=2)).save(tmp_path / "second.jpg")
    status, out, _ = run(capsys, "--out-dir", "out/deeper", "-k", 4, "photo.png", "second.jpg")
    assert status == 0
    assert [line.split(" ")[0] for line in out] == ["[1/2]", "[2/2]"]
    assert files_in(tmp_path) == ["out", "out/deeper", "out/deeper/photo_k4.png", "out/deeper/second_k4.png",
                                  "photo.png", "second.jpg"]


def test_o_names_the_output_of_one_input(tmp_path, photo, capsys):
    assert run(capsys, "-o", "small.png", photo)[0] == 0
    assert files_in(tmp_path) == ["photo.png", "small.png"]


def test_existing_output_is_kept_without_force(tmp_path, photo, capsys):
    output = tmp_path / "photo_k16.png"
    output.write_bytes(b"the user's own file")
    status, out, err = run(capsys, photo)
    assert (status, out) == (1, [])
    assert err == [(f"[1/1] {photo}: error: FileExistsError: output '{output}' exists; "
                   "use --force to overwrite it")]
    assert output.read_bytes() == b"the user's own file"
    assert run(capsys, "--force", photo)[0] == 0
    assert output.read_bytes() == png_bytes(compress_image(photo, 16, seed=0))


@pytest.mark.parametrize("args", [["-o", "photo.png"], ["-o", "./sub/../photo.png"],
                                  ["-k", 16, "photo_k16.png"]])
def test_an_input_is_never_written_to_even_with_force(tmp_path, photo, capsys, args):
    (tmp_path / "sub").mkdir()
    Image.fromarray(photo_like(seed=3)).save(tmp_path / "photo_k16.png")
    before = {name: fingerprint(tmp_path / name) for name in ("photo.png", "photo_k16.png")}
    status, _, err = run(capsys, "--force", *args, "photo.png")
    assert status == 1
    assert "is an input file; inputs are never written to" in err[-1]
    assert {name: fingerprint(tmp_path / name) for name in before} == before


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_written_png_has_the_usual_permissions_and_the_umask_is_never_changed(tmp_path, photo, capsys,
                                                                              monkeypatch, umask):
    """No moment with another umask: main may run in a threaded program, whose other threads create files."""
    before = os.umask(umask)
    try:
        def no_umask_change(mask):
            raise AssertionError(f"os.umask({mask:#o}) called: a window in which other threads' files get it")

        monkeypatch.setattr(os, "umask", no_umask_change)
        assert run(capsys, photo)[0] == 0
        assert (tmp_path / "photo_k16.png").stat().st_mode & 0o777 == 0o666 & ~umask
        assert run(capsys, "--force", "-k", 4, "--out-dir", "new", photo)[0] == 0
        assert (tmp_path / "new" / "photo_k4.png").stat().st_mode & 0o777 == 0o666 & ~umask
    finally:
        monkeypatch.undo()
        os.umask(before)


def test_checking_outputs_against_inputs_costs_the_same_per_file_in_any_batch(tmp_path, photo, capsys,
                                                                             monkeypatch):
    """An output is checked against the inputs gathered once, not against each input (quadratic: a batch
    of 60 made 7,200 stat calls more than it needed)."""
    def stat_calls(n):
        folder = tmp_path / f"batch{n}"
        folder.mkdir()
        for number in range(n):
            Image.new("RGB", (4, 4), (number, 2 * number, 100)).save(folder / f"p{number}.png")
        calls = []
        real = os.stat

        def counting(*args, **kwargs):
            calls.append(args[0])
            return real(*args, **kwargs)

        monkeypatch.setattr(os, "stat", counting)
        assert run(capsys, *sorted(folder.glob("*.png")))[0] == 0
        monkeypatch.setattr(os, "stat", real)
        return len(calls)

    small, large = stat_calls(15), stat_calls(60)
    assert large - small < 4 * small, (small, large)     # linear: 45 more files cost 3 times 15 files' calls


# --- --min-psnr with stdin, dithering and transparency ------------------------------------------------

def quality_of(path, k, dither=False):
    with Image.open(path) as original:
        pixels = np.asarray(original.convert("RGBA" if original.has_transparency_data else "RGB"))
    result = compress_image(path, k, seed=0, dither=dither)
    return psnr(pixels, np.asarray(result.convert("RGBA" if pixels.shape[-1] == 4 else "RGB")))


def test_min_psnr_from_stdin_to_stdout(tmp_path, photo, capsysbinary, monkeypatch):
    monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(buffer=io.BytesIO(photo.read_bytes())))
    assert main(["--min-psnr", "22", "-"]) == 0
    out, err = capsysbinary.readouterr()
    report = REPORT.match(err.decode().strip())
    chosen = int(report.group(4))
    assert report.group(3) == "(stdout)" and 1 < chosen < 256
    assert quality_of(photo, chosen) >= 22 > quality_of(photo, chosen - 1)
    assert out == png_bytes(compress_image(photo, chosen, seed=0))
    assert files_in(tmp_path) == ["photo.png"]


def test_min_psnr_out_of_reach_from_stdin_writes_nothing_to_stdout(photo, capsysbinary, monkeypatch):
    monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(buffer=io.BytesIO(photo.read_bytes())))
    assert main(["--min-psnr", "60", "-k", "4", "-"]) == 99
    out, err = capsysbinary.readouterr()
    assert out == b"" and b"below --min-psnr 60 dB; nothing written" in err


def test_min_psnr_with_dither_measures_the_dithered_result(tmp_path, photo, capsys):
    status, (line,), _ = run(capsys, "--min-psnr", 22, "--dither", photo)
    chosen = int(REPORT.match(line).group(4))
    assert status == 0 and 1 < chosen < 256
    assert quality_of(photo, chosen, dither=True) >= 22 > quality_of(photo, chosen - 1, dither=True)
    reported = float(REPORT.match(line).group(7))
    assert reported == pytest.approx(quality_of(photo, chosen, dither=True), abs=0.005)
    written = (tmp_path / f"photo_k{chosen}.png").read_bytes()
    assert written == png_bytes(compress_image(photo, chosen, seed=0, dither=True))


@pytest.mark.parametrize("dither", [False, True])
def test_min_psnr_with_alpha_counts_the_alpha(tmp_path, photo, capsys, dither):
    Image.fromarray(with_alpha(photo_like(64, 40))).save(tmp_path / "logo.png")
    status, (line,), _ = run(capsys, "--min-psnr", 26, *(["--dither"] if dither else []), "logo.png")
    chosen = int(REPORT.match(line).group(4))
    assert status == 0 and 2 < chosen < 256
    path = tmp_path / "logo.png"
    assert quality_of(path, chosen, dither) >= 26 > quality_of(path, chosen - 1, dither)
    assert float(REPORT.match(line).group(7)) == pytest.approx(quality_of(path, chosen, dither), abs=0.005)
    with Image.open(tmp_path / f"logo_k{chosen}.png") as written:
        assert same_pixels(written, compress_image(path, chosen, seed=0, dither=dither))
        assert np.asarray(written.convert("RGBA"))[..., 3].min() < 255


# --- usage errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["-k", 0], "argument -k/--colors: must be an int from 1 to 256, got '0'"),
    (["-k", 257], "argument -k/--colors: must be an int from 1 to 256, got '257'"),
    (["-k", "many"], "argument -k/--colors: must be an int from 1 to 256, got 'many'"),
    (["--seed", -1], "argument --seed: must be an int from 0 to 2**32 - 1, got '-1'"),
    (["--seed", 2**32], "argument --seed: must be an int from 0 to 2**32 - 1, got '4294967296'"),
    (["--seed", "x"], "argument --seed: must be an int from 0 to 2**32 - 1, got 'x'"),
    (["--min-psnr", "x"], "argument --min-psnr: must be a number of dB above 0, got 'x'"),
    (["--min-psnr", "-3"], "argument --min-psnr: must be a number of dB above 0, got '-3'"),
    (["--min-psnr", "nan"], "argument --min-psnr: must be a number of dB above 0, got 'nan'"),
    (["--min-psnr", "inf"], "argument --min-psnr: must be a number of dB above 0, got 'inf'"),
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["-o", "a.png", "--out-dir", "d"], "argument --out-dir: not allowed with argument -o/--output"),
    (["-o", "a.png", "photo.png"], "-o names the output of a single input; got 2 inputs (use --out-dir)"),
    (["-o", "results/"], "-o names a file, got the folder 'results/' (use --out-dir for a folder)"),
    (["-o", "."], "-o names a file, got the folder '.' (use --out-dir for a folder)"),
    (["-o", "missing/out.png"],
     "-o: the folder 'missing' does not exist (-o creates no folder; --out-dir does)"),
])
def test_usage_errors_exit_2_with_a_message_and_write_nothing(tmp_path, photo, capsys, args, message):
    assert usage_error(capsys, *args, "photo.png").endswith(f"error: {message}")
    assert files_in(tmp_path) == ["photo.png"]


def test_version_and_help_exit_0(capsys):
    assert run(capsys, "--version") == (0, [f"colorquant {colorquant.__version__}"], [])
    status, out, err = run(capsys, "--help")
    assert (status, err) == (0, []) and out[0].startswith("usage: colorquant")
    assert any("--min-psnr DB" in line for line in out)


def test_no_file_is_a_usage_error(capsys):
    assert usage_error(capsys).endswith("the following arguments are required: FILE")


def test_two_inputs_that_would_write_one_output_are_a_usage_error_before_any_work(tmp_path, photo, capsys):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        Image.fromarray(photo_like()).save(tmp_path / folder / "x.png")
    message = usage_error(capsys, "--out-dir", "out", "--force", "photo.png", "a/x.png", "b/x.png")
    assert message.endswith("error: inputs 'a/x.png' and 'b/x.png' would both write 'out/x_k16.png'; "
                            "compress them in separate runs or rename one")
    assert not (tmp_path / "out").exists()
    message = usage_error(capsys, "--min-psnr", 30, "--out-dir", "out", "a/x.png", "b/x.png")
    assert "inputs 'a/x.png' and 'b/x.png' would both write 'out/x_k<N>.png'" in message
    assert "inputs 'photo.png' and 'photo.png'" in usage_error(capsys, "photo.png", "photo.png")


# --- a batch that nothing stops ----------------------------------------------------------------------

def test_bad_files_are_reported_with_kind_and_message_and_the_others_are_done(tmp_path, photo, capsys):
    (tmp_path / "broken.jpg").write_text("not an image")
    Image.fromarray(photo_like(seed=2)).save(tmp_path / "second.png")
    status, out, err = run(capsys, "photo.png", "broken.jpg", "missing.png", "second.png")
    assert status == 1
    assert [line.split(" ")[0] for line in out] == ["[1/4]", "[4/4]"]
    assert len(err) == 2
    assert err[0].startswith("[2/4] broken.jpg: error: OSError: cannot read image file 'broken.jpg': ")
    assert err[1].startswith("[3/4] missing.png: error: OSError: cannot read image file 'missing.png': ")
    assert "Traceback" not in "\n".join(err)
    assert files_in(tmp_path) == ["broken.jpg", "photo.png", "photo_k16.png", "second.png", "second_k16.png"]


def test_an_unexpected_error_ends_that_file_only(tmp_path, photo, capsys, monkeypatch):
    Image.fromarray(photo_like(seed=2)).save(tmp_path / "second.png")
    real = colorquant._cli._quantize

    def fails_on_the_first(pixels, *args, **kwargs):
        if pixels.rgba.shape[:2] == (40, 64):
            raise RuntimeError("something unforeseen")
        return real(pixels, *args, **kwargs)

    monkeypatch.setattr(colorquant._cli, "_quantize", fails_on_the_first)
    status, out, err = run(capsys, "photo.png", "second.png")
    assert status == 1
    assert err == ["[1/2] photo.png: error: RuntimeError: something unforeseen"]
    assert [line.split(" ")[0] for line in out] == ["[2/2]"]


@pytest.mark.parametrize("kind", ["PNG", "WEBP"])
def test_corrupt_exif_is_a_note_and_the_photo_is_done(tmp_path, photo, capsys, kind):
    (tmp_path / f"odd.{kind.lower()}").write_bytes(corrupt_exif_bytes(kind))
    status, out, err = run(capsys, f"odd.{kind.lower()}", "photo.png")
    assert status == 0 and len(out) == 2
    (note,) = err
    assert re.match(rf"\[1/2\] odd.{kind.lower()}: note: the EXIF block of '.*' is corrupt "
                    r"\(SyntaxError: .*\): the image is used as stored$", note)
    assert (tmp_path / "odd_k16.png").exists()


def test_animated_image_notes_that_only_its_first_frame_was_used(tmp_path, photo, capsys):
    (tmp_path / "moving.gif").write_bytes(animated_gif_bytes(3))
    status, out, err = run(capsys, "moving.gif")
    assert status == 0 and len(out) == 1
    assert err == [("[1/1] moving.gif: note: 'moving.gif' is animated: "
                   "only the first of its 3 frames was used")]


def strict_stream(encoding):
    """A text stream that raises on any character its encoding cannot hold, as under LANG=en_US.UTF-8."""
    return io.TextIOWrapper(io.BytesIO(), encoding=encoding, errors="strict")


@pytest.mark.parametrize("encoding", ["utf-8", "ascii"])
def test_any_file_name_is_printed_whatever_the_locale(tmp_path, photo, monkeypatch, encoding):
    name = os.fsdecode(b"caf\xe9.png")             # not UTF-8: a surrogate in Python's str
    Image.fromarray(photo_like()).save(tmp_path / name)
    (tmp_path / "d\u00e9j\u00e0.png").write_text("not an image")
    out, err = strict_stream(encoding), strict_stream(encoding)
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    status = main([name, "d\u00e9j\u00e0.png"])
    out.flush()
    err.flush()
    assert status == 1
    assert out.buffer.getvalue().decode(encoding).startswith("[1/2] caf\\xe9_k16.png: 16 colours")
    assert err.buffer.getvalue().decode(encoding).startswith(
        "[2/2] d\\xe9j\\xe0.png: error:" if encoding == "ascii" else "[2/2] d\u00e9j\u00e0.png: error:")
    assert os.fsdecode(b"caf\xe9_k16.png") in os.listdir(tmp_path)


def test_every_legal_output_name_works_and_a_too_long_one_is_an_error_naming_it(tmp_path, photo, capsys):
    longest = "x" * (255 - len("_k16.png"))         # the output's name is 255 bytes, the most allowed
    Image.fromarray(photo_like()).save(tmp_path / f"{longest}.png")
    assert run(capsys, f"{longest}.png")[0] == 0
    assert (tmp_path / f"{longest}_k16.png").exists()
    Image.fromarray(photo_like()).save(tmp_path / f"{longest}y.png")
    status, _, err = run(capsys, f"{longest}y.png")
    assert status == 1
    assert err == [(f"[1/1] {longest}y.png: error: OSError: cannot write output '{longest}y_k16.png': "
                    "File name too long")]
    assert not [name for name in os.listdir(tmp_path) if TEMPORARY.match(name)]


def test_an_output_that_appears_while_compressing_is_not_overwritten(tmp_path, photo, capsys, monkeypatch):
    output = tmp_path / "photo_k16.png"

    real = colorquant._quantize._Quantized.png

    def another_run_writes_first(result, **kwargs):
        output.write_bytes(b"written by another run meanwhile")
        return real(result, **kwargs)

    monkeypatch.setattr(colorquant._quantize._Quantized, "png", another_run_writes_first)
    status, out, err = run(capsys, photo)
    assert (status, out) == (1, [])
    assert err == [(f"[1/1] {photo}: error: FileExistsError: output '{output}' appeared while it was "
                    "being written; it was kept (use --force to overwrite it)")]
    assert output.read_bytes() == b"written by another run meanwhile"
    assert files_in(tmp_path) == ["photo.png", "photo_k16.png"]


@pytest.mark.parametrize("appears", [False, True])
def test_without_hard_links_an_exclusive_create_keeps_the_promise(tmp_path, photo, capsys, monkeypatch,
                                                                   appears):
    """On a file system without hard links (os.link fails), the output is still never replaced."""
    output = tmp_path / "photo_k16.png"

    def no_hard_links(source, target):
        if appears:
            output.write_bytes(b"written by another run meanwhile")
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_hard_links)
    status, _, err = run(capsys, photo)
    if appears:
        assert status == 1 and "appeared while it was being written; it was kept" in err[0]
        assert output.read_bytes() == b"written by another run meanwhile"
    else:
        assert status == 0 and output.read_bytes() == png_bytes(compress_image(photo, 16, seed=0))
    assert files_in(tmp_path) == ["photo.png", "photo_k16.png"]


def test_a_failed_write_leaves_no_temporary_file_and_keeps_the_old_output(tmp_path, photo, capsys,
                                                                          monkeypatch):
    output = tmp_path / "photo_k16.png"
    output.write_bytes(b"old")

    def disk_full(temporary, target, force):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(colorquant._cli, "_publish", disk_full)
    status, _, err = run(capsys, "--force", photo)
    assert status == 1
    assert err == [f"[1/1] {photo}: error: OSError: cannot write output '{output}': No space left on device"]
    assert files_in(tmp_path) == ["photo.png", "photo_k16.png"] and output.read_bytes() == b"old"


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_signal_removes_the_temporary_file_and_exits_128_plus_its_number(tmp_path, photo, capsys,
                                                                           monkeypatch, name):
    number = getattr(signal, name)
    seen = []

    def signalled_while_writing(temporary, target, force):
        seen.append(Path(temporary).name)
        os.kill(os.getpid(), number)

    monkeypatch.setattr(colorquant._cli, "_publish", signalled_while_writing)
    before = signal.getsignal(number)
    Image.fromarray(photo_like(seed=2)).save(tmp_path / "second.png")
    status, out, err = run(capsys, "photo.png", "second.png")
    assert status == 128 + number
    assert out == [] and err == [f"colorquant: stopped by {name}; no temporary file left behind"]
    assert TEMPORARY.match(seen[0]) and len(seen[0]) < 30
    assert files_in(tmp_path) == ["photo.png", "second.png"]
    assert signal.getsignal(number) == before


class ClosedPipe(io.StringIO):
    """A stdout whose reader went away (`| head -0`)."""

    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_pipe_ends_the_run_quietly(tmp_path, photo, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    Image.fromarray(photo_like(seed=2)).save(tmp_path / "second.png")
    assert main(["photo.png", "second.png"]) == 128 + 13
    assert capsys.readouterr().err == ""
    assert files_in(tmp_path) == ["photo.png", "photo_k16.png", "second.png"]


class ClosedBinaryPipe(io.BytesIO):
    """The binary stdout of a reader that went away."""

    def write(self, data):
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_pipe_while_writing_the_png_to_stdout_ends_quietly(photo, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(buffer=io.BytesIO(photo.read_bytes())))
    monkeypatch.setattr(sys, "stdout", types.SimpleNamespace(buffer=ClosedBinaryPipe(), flush=lambda: None))
    assert main(["-"]) == 128 + 13
    assert capsys.readouterr().err == ""


# --- - : stdin to stdout -----------------------------------------------------------------------------

def test_dash_reads_stdin_and_writes_the_png_to_stdout(tmp_path, photo, capsysbinary, monkeypatch):
    monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(buffer=io.BytesIO(photo.read_bytes())))
    assert main(["-k", "8", "-"]) == 0
    out, err = capsysbinary.readouterr()
    assert out == png_bytes(compress_image(photo, 8, seed=0))
    assert REPORT.match(err.decode()).group(3) == "(stdout)"
    assert files_in(tmp_path) == ["photo.png"]


def test_dash_with_a_bad_image_is_an_error_naming_stdin(photo, capsysbinary, monkeypatch):
    monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(buffer=io.BytesIO(b"not an image")))
    assert main(["-"]) == 1
    out, err = capsysbinary.readouterr()
    assert out == b"" and err.startswith(b"[1/1] -: error: OSError: cannot read image file 'stdin'")


@pytest.mark.parametrize("args, message", [
    (["-", "photo.png"], "- (stdin to stdout) must be the only input; got 2 inputs"),
    (["-o", "x.png", "-"], "- writes the PNG to stdout: -o and --out-dir are not allowed with it"),
    (["--out-dir", "d", "-"], "- writes the PNG to stdout: -o and --out-dir are not allowed with it"),
])
def test_dash_must_be_the_only_input_without_o_or_out_dir(tmp_path, photo, capsys, args, message):
    assert usage_error(capsys, *args).endswith(f"error: {message}")
    assert files_in(tmp_path) == ["photo.png"]


# --- --min-psnr --------------------------------------------------------------------------------------

def quality(path, k):
    with Image.open(path) as original:
        pixels = np.asarray(original.convert("RGB"))
    return psnr(pixels, np.asarray(compress_image(path, k, seed=0).convert("RGB")))


def test_min_psnr_picks_a_k_that_reaches_it_while_k_minus_1_does_not(tmp_path, photo, capsys):
    status, (line,), _ = run(capsys, "--min-psnr", 20, photo)
    assert status == 0
    chosen = int(REPORT.match(line).group(4))
    assert 1 < chosen < 256
    assert quality(photo, chosen) >= 20 > quality(photo, chosen - 1)
    assert float(REPORT.match(line).group(7)) == pytest.approx(quality(photo, chosen), abs=0.005)
    assert files_in(tmp_path) == ["photo.png", f"photo_k{chosen}.png"]
    written = (tmp_path / f"photo_k{chosen}.png").read_bytes()
    assert written == png_bytes(compress_image(photo, chosen, seed=0))


def test_min_psnr_takes_one_colour_when_one_suffices(tmp_path, photo, capsys):
    Image.new("RGB", (8, 8), (10, 200, 30)).save(tmp_path / "flat.png")
    status, (line,), _ = run(capsys, "--min-psnr", 40, "flat.png")
    assert status == 0 and REPORT.match(line).group(4) == "1"
    assert (tmp_path / "flat_k1.png").exists()


def test_min_psnr_out_of_reach_of_k_writes_nothing_and_exits_99(tmp_path, photo, capsys):
    expected = quality(photo, 4)
    status, out, err = run(capsys, "--min-psnr", 60, "-k", 4, photo)
    assert (status, out) == (99, [])
    assert err == [(f"[1/1] {photo}: even -k 4 gives PSNR {expected:.2f} dB, below --min-psnr 60 dB; "
                    "nothing written")]
    assert files_in(tmp_path) == ["photo.png"]


# --- one flow: each input read once, its colours counted once, no P image parsed again ---------------

@pytest.fixture
def counted(monkeypatch):
    """How often the command line reads an image, counts its colours and builds or parses a P image."""
    calls = {"read": 0, "count": 0, "P image": 0, "parse": 0}

    def counting(key, function):
        def wrapper(*args, **kwargs):
            calls[key] += 1
            return function(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(colorquant._cli, "_read_image", counting("read", colorquant._cli._read_image))
    monkeypatch.setattr(colorquant._quantize, "_color_codes",
                        counting("count", colorquant._quantize._color_codes))
    monkeypatch.setattr(colorquant._quantize, "palette_image",
                        counting("P image", colorquant._quantize.palette_image))
    monkeypatch.setattr(colorquant._png, "_indexed", counting("parse", colorquant._png._indexed))
    return calls


@pytest.mark.parametrize("alpha", [False, True])
@pytest.mark.parametrize("args", [["-k", 8], ["--min-psnr", 24], ["--min-psnr", 24, "--dither"]])
def test_each_input_is_read_once_and_its_colours_counted_once_for_every_k(tmp_path, photo, capsys,
                                                                           counted, args, alpha):
    pixels = with_alpha(photo_like(64, 40)) if alpha else photo_like(64, 40)
    Image.fromarray(pixels).save(tmp_path / "picture.png")
    status, (line,), _ = run(capsys, *args, "picture.png")
    k = int(REPORT.match(line).group(4) or 8)
    assert status == 0 and k > 2        # --min-psnr tried several k
    assert counted == {"read": 1, "count": 1, "P image": 0, "parse": 0}
    dither = "--dither" in args
    written = (tmp_path / f"picture_k{k}.png").read_bytes()
    assert written == png_bytes(compress_image(tmp_path / "picture.png", k, seed=0, dither=dither))


def test_the_private_result_gives_what_compress_image_and_png_bytes_give(tmp_path):
    from colorquant._quantize import _Pixels, _quantize
    from colorquant._read import _read_image

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    for pixels, dither in [(photo_like(), False), (with_alpha(photo_like()), False), (photo_like(), True)]:
        Image.fromarray(pixels).save(tmp_path / "in.png", icc_profile=profile)
        result = _quantize(_Pixels.of(*_read_image(tmp_path / "in.png")), 12, 0, dither)
        image = compress_image(tmp_path / "in.png", 12, seed=0, dither=dither)
        assert same_image(result.image(), image) and result.image().info == image.info
        assert result.png(text={"Title": "t"}) == png_bytes(image, text={"Title": "t"})
        assert result.psnr(_Pixels.of(*_read_image(tmp_path / "in.png"))) == pytest.approx(
            psnr(pixels, np.asarray(image.convert("RGBA" if pixels.shape[-1] == 4 else "RGB"))), abs=1e-9)
        rgba = np.asarray(image.convert("RGBA")).reshape(-1, 4)
        assert result.color_count() == len(np.unique(rgba, axis=0))


# --- text chunks travel with the copy ----------------------------------------------------------------

CREDIT = {"Title": "Tulips, a changed version", "Author": "Dan Kamminga",
          "Copyright": "CC BY 2.0, https://creativecommons.org/licenses/by/2.0/",
          "Source": "https://www.flickr.com/photos/dankamminga/11746080/", "Comment": "Łódź, 東京"}


def saved_with_text(path, pixels, text):
    info = PngImagePlugin.PngInfo()
    for key, value in text.items():
        info.add_text(key, value, zip=key == "Comment")    # tEXt, and a compressed iTXt
    Image.fromarray(pixels).save(path, pnginfo=info)


@pytest.mark.parametrize("args", [["-k", 8], ["--min-psnr", 20]])
def test_a_png_inputs_text_chunks_are_kept(tmp_path, photo, capsys, args):
    saved_with_text(tmp_path / "credited.png", photo_like(), CREDIT)
    status, (line,), _ = run(capsys, *args, "credited.png")
    output = REPORT.match(line).group(3)
    with Image.open(output) as written:
        assert status == 0 and written.text == CREDIT


def test_strip_leaves_the_text_chunks_out_and_keeps_the_profile(tmp_path, photo, capsys):
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    info = PngImagePlugin.PngInfo()
    info.add_text("Title", "to be left out")
    Image.fromarray(photo_like()).save(tmp_path / "credited.png", pnginfo=info, icc_profile=profile)
    assert run(capsys, "--strip", "credited.png")[0] == 0
    with Image.open(tmp_path / "credited_k16.png") as written:
        assert written.text == {} and written.info["icc_profile"] == profile


def test_the_readme_image_keeps_its_credit(tmp_path, capsys):
    readme_image = Path(__file__).parent.parent / "images" / "tulips_k16.png"
    with Image.open(readme_image) as original:
        credit = original.text
    assert "CC BY 2.0" in credit["Copyright"]
    assert run(capsys, "-k", 8, "--out-dir", tmp_path, readme_image)[0] == 0
    with Image.open(tmp_path / "tulips_k16_k8.png") as written:
        assert written.text == credit


def test_text_chunks_of_a_png_on_stdin_are_kept(tmp_path, capsysbinary, monkeypatch):
    saved_with_text(tmp_path / "credited.png", with_alpha(photo_like()), CREDIT)
    monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(buffer=io.BytesIO((tmp_path / "credited.png")
                                                                               .read_bytes())))
    assert main(["-k", "8", "-"]) == 0
    with Image.open(io.BytesIO(capsysbinary.readouterr().out)) as written:
        assert written.text == CREDIT


# --- --skip-if-larger --------------------------------------------------------------------------------

def test_skip_if_larger_writes_nothing_for_a_file_whose_png_would_be_larger(tmp_path, photo, capsys):
    noise = np.random.default_rng(0).integers(0, 256, size=(96, 96, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "tiny.jpg", quality=5)   # its 16-colour PNG stays noisy
    Image.fromarray(photo_like(64, 40)).save(tmp_path / "raw.bmp")
    png = png_bytes(compress_image(tmp_path / "tiny.jpg", 16, seed=0))
    assert len(png) > (tmp_path / "tiny.jpg").stat().st_size        # the case under test
    status, out, err = run(capsys, "--skip-if-larger", "tiny.jpg", "raw.bmp")
    assert status == 98
    assert err == [(f"[1/2] tiny.jpg: skipped: the PNG would be {len(png)} bytes, larger than the input's "
                    f"{(tmp_path / 'tiny.jpg').stat().st_size}; nothing written")]
    assert [line.split(" ")[:2] for line in out] == [["[2/2]", "raw_k16.png:"]]
    assert files_in(tmp_path) == ["photo.png", "raw.bmp", "raw_k16.png", "tiny.jpg"]
    (tmp_path / "broken.png").write_text("not an image")
    assert run(capsys, "--skip-if-larger", "tiny.jpg", "broken.png")[0] == 1   # a failure outranks a skip


# --- subprocess smoke tests (at most three: each pays Python's start and scikit-learn's import) -------

@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """The three commands, started together at once (they run side by side), in a folder of their own.

    installed: the `colorquant` command beside this Python, stdin to stdout, without PYTHONPATH;
    batch: `python -m colorquant broken.jpg photo.png`; pipe: a run whose stdout is closed at once.
    """
    folder = tmp_path_factory.mktemp("smoke")
    Image.fromarray(photo_like(64, 40)).save(folder / "photo.png")
    (folder / "broken.jpg").write_text("not an image")
    (folder / "pipe").mkdir()
    Image.fromarray(photo_like(64, 40)).save(folder / "pipe" / "photo.png")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    started = {
        "installed": subprocess.Popen([Path(sys.executable).with_name("colorquant"), "-k", "8", "-"],
                                      cwd=folder, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE),
        "batch": subprocess.Popen([sys.executable, "-m", "colorquant", "broken.jpg", "photo.png"], cwd=folder,
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE),
        "pipe": subprocess.Popen([sys.executable, "-m", "colorquant", "photo.png"], cwd=folder / "pipe",
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE),
    }
    started["pipe"].stdout.close()                  # as `| head -0` does
    finished = {"installed": started["installed"].communicate((folder / "photo.png").read_bytes(), 120)}
    finished["batch"] = started["batch"].communicate(timeout=120)
    finished["pipe"] = (None, started["pipe"].communicate(timeout=120)[1])
    return folder, {name: (started[name].returncode, *finished[name]) for name in started}


def test_installed_command_reads_stdin_and_writes_stdout_from_any_folder(smoke):
    folder, done = smoke
    status, out, err = done["installed"]
    assert status == 0, err
    assert out == png_bytes(compress_image(folder / "photo.png", 8, seed=0))
    assert REPORT.match(err.decode().strip())


def test_python_m_colorquant_runs_a_batch_with_a_bad_file(smoke):
    _, done = smoke
    status, out, err = done["batch"]
    assert status == 1
    assert err.decode().startswith("[1/2] broken.jpg: error: OSError: cannot read image file 'broken.jpg'")
    assert b"Traceback" not in err
    assert REPORT.match(out.decode().strip()).group(3) == "photo_k16.png"


def test_a_closed_pipe_ends_the_real_command_quietly(smoke):
    folder, done = smoke
    status, _, err = done["pipe"]
    assert (status, err) == (128 + 13, b"")
    assert files_in(folder / "pipe") == ["photo.png", "photo_k16.png"]
