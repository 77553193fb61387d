"""The command line, `python -m colorquant`, run as a subprocess on images the tests make."""
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

import colorquant
from colorquant import compress_image, psnr
from pictures import photo_like, same_image

ROOT = Path(__file__).resolve().parents[1]
REPORT = re.compile(r"^\[(\d+)/(\d+)\] (.+): (\d+) colours, (\d+\.\d) kB, PSNR (\d+\.\d\d) dB, (\d+\.\d\d) s$")


def run(*args, cwd):
    """Run `python -m colorquant ARGS` in cwd, with the repository on PYTHONPATH as a user would have it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "colorquant", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def fingerprint(path):
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def files_in(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(photo_like(64, 40)).save(path)
    return path


def test_default_writes_beside_the_input_what_compress_image_gives(tmp_path, photo):
    before = fingerprint(photo)
    done = run(photo.name, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    output = tmp_path / "photo_k16.png"
    assert files_in(tmp_path) == ["photo.png", "photo_k16.png"]
    assert fingerprint(photo) == before
    with Image.open(output) as written:
        assert written.format == "PNG" and written.mode == "P"
        assert same_image(written, compress_image(photo, 16, seed=0))


def test_report_line_gives_path_colors_size_psnr_and_time(tmp_path, photo):
    done = run(photo, cwd=tmp_path)
    (line,) = done.stdout.splitlines()
    number, total, path, colors, kilobytes, quality, _ = REPORT.match(line).groups()
    output = tmp_path / "photo_k16.png"
    assert (number, total, Path(path)) == ("1", "1", output)
    assert float(kilobytes) == round(output.stat().st_size / 1000, 1)
    with Image.open(output) as written:
        assert int(colors) == len(np.unique(np.asarray(written.convert("RGB")).reshape(-1, 3), axis=0))
        expected = psnr(np.asarray(Image.open(photo).convert("RGB")), np.asarray(written.convert("RGB")))
    assert float(quality) == pytest.approx(expected, abs=0.005)


def test_two_runs_give_the_same_file(tmp_path, photo):
    assert run(photo, cwd=tmp_path).returncode == 0
    first = (tmp_path / "photo_k16.png").read_bytes()
    assert run("--force", photo, cwd=tmp_path).returncode == 0
    assert (tmp_path / "photo_k16.png").read_bytes() == first


def test_k_seed_and_dither_match_compress_image(tmp_path, photo):
    done = run("-k", 5, "--seed", 7, "--dither", photo, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with Image.open(tmp_path / "photo_k5.png") as written:
        assert same_image(written, compress_image(photo, 5, seed=7, dither=True))


def test_transparent_photo_gives_an_rgba_png_with_its_pixels(tmp_path):
    image = Image.fromarray(photo_like())
    image.putalpha(Image.fromarray(np.tile(np.arange(48, dtype=np.uint8) * 5, (32, 1))))
    image.save(tmp_path / "logo.png")
    assert run("-k", 8, "logo.png", cwd=tmp_path).returncode == 0
    with Image.open(tmp_path / "logo_k8.png") as written:
        assert written.mode == "RGBA"
        assert np.array_equal(np.asarray(written), np.asarray(compress_image(tmp_path / "logo.png", 8, seed=0)))


def test_icc_profile_is_kept_in_the_output(tmp_path):
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(photo_like()).save(tmp_path / "phone.jpg", icc_profile=profile)
    assert run("phone.jpg", cwd=tmp_path).returncode == 0
    with Image.open(tmp_path / "phone_k16.png") as written:
        assert written.info["icc_profile"] == profile


def test_out_dir_is_created_and_holds_the_outputs(tmp_path, photo):
    Image.fromarray(photo_like(seed=2)).save(tmp_path / "second.jpg")
    done = run("--out-dir", "out/deeper", "-k", 4, "photo.png", "second.jpg", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert files_in(tmp_path / "out") == ["deeper", "deeper/photo_k4.png", "deeper/second_k4.png"]
    assert [line.split(" ")[0] for line in done.stdout.splitlines()] == ["[1/2]", "[2/2]"]
    assert files_in(tmp_path) == ["out", "out/deeper", "out/deeper/photo_k4.png", "out/deeper/second_k4.png",
                                  "photo.png", "second.jpg"]


def test_o_names_the_output_of_one_input(tmp_path, photo):
    done = run("-o", "small.png", photo, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert files_in(tmp_path) == ["photo.png", "small.png"]


def test_o_with_several_inputs_is_a_usage_error(tmp_path, photo):
    done = run("-o", "small.png", photo, photo, cwd=tmp_path)
    assert done.returncode == 2
    assert "-o" in done.stderr and "usage" in done.stderr
    assert files_in(tmp_path) == ["photo.png"]


def test_existing_output_is_kept_without_force(tmp_path, photo):
    output = tmp_path / "photo_k16.png"
    output.write_bytes(b"the user's own file")
    done = run(photo, cwd=tmp_path)
    assert done.returncode == 1
    assert "photo_k16.png" in done.stderr and "exists" in done.stderr and "--force" in done.stderr
    assert output.read_bytes() == b"the user's own file"
    assert done.stdout == ""
    done = run("--force", photo, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with Image.open(output) as written:
        assert written.mode == "P"


@pytest.mark.parametrize("args", [["-o", "photo.png"], ["-o", "./sub/../photo.png"], ["-k", 16, "photo_k16.png"]])
def test_an_input_is_never_written_to_even_with_force(tmp_path, photo, args):
    (tmp_path / "sub").mkdir()
    Image.fromarray(photo_like(seed=3)).save(tmp_path / "photo_k16.png")
    before = {name: fingerprint(tmp_path / name) for name in ("photo.png", "photo_k16.png")}
    done = run("--force", *args, "photo.png", cwd=tmp_path)
    assert done.returncode == 1
    assert "input" in done.stderr
    assert {name: fingerprint(tmp_path / name) for name in before} == before


def test_bad_file_is_reported_and_the_others_are_processed(tmp_path, photo):
    (tmp_path / "broken.jpg").write_text("not an image")
    Image.fromarray(photo_like(seed=2)).save(tmp_path / "second.png")
    done = run("photo.png", "broken.jpg", "missing.png", "second.png", cwd=tmp_path)
    assert done.returncode == 1
    assert [line.split(" ")[0] for line in done.stdout.splitlines()] == ["[1/4]", "[4/4]"]
    errors = done.stderr.splitlines()
    assert len(errors) == 2 and "broken.jpg" in errors[0] and "missing.png" in errors[1]
    assert files_in(tmp_path) == ["broken.jpg", "photo.png", "photo_k16.png", "second.png", "second_k16.png"]


@pytest.mark.parametrize("args, message", [
    (["-k", 0], "1 to 256"), (["-k", 257], "1 to 256"), (["-k", "many"], "1 to 256"),
    (["--seed", -1], "2\\*\\*32 - 1"), (["--seed", 2**32], "2\\*\\*32 - 1"), (["--seed", "x"], "seed"),
    (["--bogus"], "unrecognized arguments: --bogus"), (["-o", "a.png", "--out-dir", "d"], "not allowed with"),
])
def test_usage_errors_exit_2_with_a_message_and_write_nothing(tmp_path, photo, args, message):
    done = run(*args, photo, cwd=tmp_path)
    assert done.returncode == 2
    assert re.search(message, done.stderr) and "usage:" in done.stderr
    assert files_in(tmp_path) == ["photo.png"]


def test_no_file_is_a_usage_error(tmp_path):
    done = run(cwd=tmp_path)
    assert done.returncode == 2 and "FILE" in done.stderr


def test_interrupted_write_leaves_no_png_and_keeps_the_old_file(tmp_path, monkeypatch):
    """The PNG goes to a temporary file first: a write stopped halfway changes nothing in the folder."""
    target = tmp_path / "out.png"
    target.write_bytes(b"old")

    def stop_halfway(image, file, **_):
        file.write(b"\x89PNG half")
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", stop_halfway)
    with pytest.raises(KeyboardInterrupt):
        colorquant.write_png(Image.new("P", (4, 4)), target)
    assert files_in(tmp_path) == ["out.png"] and target.read_bytes() == b"old"


def test_written_png_has_the_usual_permissions(tmp_path, photo):
    assert run(photo, cwd=tmp_path).returncode == 0
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "photo_k16.png").stat().st_mode & 0o777 == 0o666 & ~umask
