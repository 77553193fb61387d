"""Scores for the eye (issue 19), not a test: PSNR, SSIM and mean CIEDE2000 of each space against pngquant.

For each sample photo (benchmarks/samples.py: tulips, china, flower) and k in 8, 16, 32, 64, 128, 256:

- rgb, oklab   compress_image(photo, k, space=...) (seed 0, no dithering);
- pngquant     `pngquant --speed 1 --nofs k` on the same PNG file.

Scores by scikit-image: PSNR (colorquant.psnr: the same figure), SSIM (`structural_similarity`,
channel_axis=2) and the mean CIEDE2000 difference (`deltaE_ciede2000` of `rgb2lab` of both). The goals:
oklab's mean CIEDE2000 at or below pngquant's at every k (issue 19, point 1); a default no worse than
pngquant on all three scores at once (point 2).

Then: the time of oklab against rgb (compress_image in-process, from the PNG file, at k = 16 and 256,
interleaved runs, medians; the goal: at most 1.5 times); the dithering table at k = 16 (strength 0,
0.5 and 1: PSNR, CIEDE2000 and PNG size; pngquant's --nofs, --floyd=0.5 and --floyd=1 beside); the
transparency cases (the icon sheet of tests/pictures.py, redrawn here, and the feathered tulips at k = 16
and 64: premultiplied PSNR against pngquant's, and whether opaque pixels stay opaque and invisible ones
invisible); last, compress_image on a generated 24-megapixel photo at k = 16 with dithering (goal: 3 s),
each run in a child process.

The machine may be shared: times are medians of interleaved runs, and only their ratios mean much.
Usage, from the repository root:
    python -m benchmarks.perceptual [--runs 5] [--k 8 16 ...] [--no-scores] [--no-times] [--no-dither]
                                    [--no-transparent] [--no-big]
"""
import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from skimage.color import deltaE_ciede2000, rgb2lab
from skimage.metrics import structural_similarity

import colorquant
from benchmarks.compress_benchmark import make_big_photo
from benchmarks.samples import PHOTOS, tulips_feathered, write_samples
from tests.pictures import icon_sheet  # the tests' icon sheet (tests/ is a namespace package here)

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "perceptual"
KS = (8, 16, 32, 64, 128, 256)
SPACES = ("rgb", "oklab")
STRENGTHS = (0, 0.5, 1)


def pngquant(source, k, floyd=None):
    """pngquant --speed 1 (--nofs, or --floyd=LEVEL) on a PNG file: the result as RGBA, and its PNG bytes."""
    target = BUILD / f"{Path(source).stem}_pq_k{k}_{floyd}.png"
    dither = ["--nofs"] if floyd is None else [f"--floyd={floyd}"]
    subprocess.run(["pngquant", "--speed", "1", *dither, "--force", "--output", str(target), str(k),
                    str(source)], check=True, capture_output=True)
    data = target.read_bytes()
    with Image.open(target) as image:
        return np.asarray(image.convert("RGBA")), data


def scores(original, result):
    """PSNR, SSIM and mean CIEDE2000 of an RGB result against the RGB original (scikit-image)."""
    return (colorquant.psnr(original, result),
            structural_similarity(original, result, channel_axis=2),
            float(deltaE_ciede2000(rgb2lab(original), rgb2lab(result)).mean()))


def ours(source, k, space="rgb", dither=0):
    """compress_image's result as RGBA, and its PNG bytes."""
    result = colorquant.compress_image(source, k, seed=0, space=space, dither=dither)
    return np.asarray(result.convert("RGBA")), colorquant.png_bytes(result)


def print_scores(paths, ks, have_pngquant):
    print("\n## PSNR (dB), SSIM and mean CIEDE2000, each space against pngquant --speed 1 --nofs")
    print("| photo, k | PSNR rgb / oklab / pngquant | SSIM rgb / oklab / pngquant "
          "| ΔE2000 rgb / oklab / pngquant |")
    print("|---|---|---|---|")
    wins = {space: {"psnr": 0, "ssim": 0, "de": 0, "all": 0} for space in SPACES}
    rows = 0
    for name in PHOTOS:
        original = np.asarray(Image.open(paths[name]).convert("RGB"))
        for k in ks:
            table = {space: scores(original, ours(paths[name], k, space)[0][..., :3]) for space in SPACES}
            table["pngquant"] = (scores(original, pngquant(paths[name], k)[0][..., :3]) if have_pngquant
                                 else (np.nan,) * 3)
            rows += 1
            theirs = table["pngquant"]
            for space in SPACES:
                mine = table[space]
                ok = (mine[0] >= theirs[0], mine[1] >= theirs[1], mine[2] <= theirs[2])
                for key, good in zip(("psnr", "ssim", "de"), ok, strict=True):
                    wins[space][key] += good
                wins[space]["all"] += all(ok)
            columns = [" / ".join(f"{table[who][i]:{form}}" for who in (*SPACES, "pngquant"))
                       for i, form in enumerate((".2f", ".4f", ".2f"))]
            print(f"| {name} {k} | " + " | ".join(columns) + " |")
    for space in SPACES:
        print(f"{space}: no worse than pngquant on PSNR in {wins[space]['psnr']}/{rows}, SSIM "
              f"{wins[space]['ssim']}/{rows}, ΔE2000 {wins[space]['de']}/{rows}; on all three at once "
              f"{wins[space]['all']}/{rows}")


def print_times(paths, runs):
    print(f"\n## compress_image in-process, oklab against rgb (median of {runs} interleaved runs, s)")
    print("| photo, k | rgb | oklab | oklab / rgb |")
    print("|---|---|---|---|")
    worst = 0.0
    for name in PHOTOS:
        for k in (16, 256):
            times = {space: [] for space in SPACES}
            for run in range(runs + 1):
                for space in SPACES:
                    start = time.perf_counter()
                    colorquant.compress_image(paths[name], k, seed=0, space=space)
                    if run:   # the first run of each warms up
                        times[space].append(time.perf_counter() - start)
            rgb, oklab = (statistics.median(times[space]) for space in SPACES)
            worst = max(worst, oklab / rgb)
            print(f"| {name} {k} | {rgb:.3f} | {oklab:.3f} | {oklab / rgb:.2f} |")
    print(f"worst oklab / rgb: {worst:.2f} (goal: at most 1.5)")


def print_dither(paths, have_pngquant):
    print("\n## Dithering at k = 16: PSNR (dB), mean ΔE2000, PNG size (kB)")
    print("| photo | strength | rgb | oklab | pngquant (--nofs, --floyd=0.5, --floyd=1) |")
    print("|---|---|---|---|---|")
    for name in PHOTOS:
        original = np.asarray(Image.open(paths[name]).convert("RGB"))
        for strength in STRENGTHS:
            cells = []
            for space in SPACES:
                result, data = ours(paths[name], 16, space, strength)
                psnr, _, difference = scores(original, result[..., :3])
                cells.append(f"{psnr:.2f} dB, {difference:.2f}, {len(data) / 1000:.1f} kB")
            if have_pngquant:
                result, data = pngquant(paths[name], 16, None if strength == 0 else strength)
                psnr, _, difference = scores(original, result[..., :3])
                cells.append(f"{psnr:.2f} dB, {difference:.2f}, {len(data) / 1000:.1f} kB")
            print(f"| {name} | {strength:g} | " + " | ".join(cells) + " |")


def print_transparent(have_pngquant):
    print("\n## Transparency: premultiplied PSNR (dB); opaque pixels kept at alpha 255, invisible at 0")
    print("| image, k | ours rgb | ours oklab | pngquant | opaque kept ours / pngquant "
          "| invisible kept ours / pngquant |")
    print("|---|---|---|---|---|---|")
    for name, image in (("icon sheet", icon_sheet()), ("feathered tulips", tulips_feathered())):
        path = BUILD / f"{name.replace(' ', '_')}.png"
        image.save(path)
        original = np.asarray(image.convert("RGBA"))
        opaque, clear = original[..., 3] == 255, original[..., 3] == 0
        for k in (16, 64):
            results = {space: ours(path, k, space)[0] for space in SPACES}
            theirs = pngquant(path, k)[0] if have_pngquant else original * 0
            kept = [f"{(result[opaque, 3] == 255).mean():.1%}" for result in (results["rgb"], theirs)]
            hidden = [f"{(result[clear, 3] == 0).mean():.1%}" for result in (results["rgb"], theirs)]
            quality = [f"{colorquant.psnr(original, result):.2f}" for result in (*results.values(), theirs)]
            print(f"| {name} {k} | {' | '.join(quality)} | {' / '.join(kept)} | {' / '.join(hidden)} |")


def big_worker(source, k, space, dither):
    """In a child process: compress_image once on the big photo; print its time."""
    start = time.perf_counter()
    colorquant.compress_image(source, k, space=space, dither=dither)
    print(json.dumps({"seconds": time.perf_counter() - start}))


def print_big(runs):
    path = BUILD / "big_24mp.png"
    if not path.exists():
        make_big_photo(path)
    print(f"\n## 24 MP photo, k = 16: compress_image in a child process (median of {runs} interleaved runs)")
    cases = [("rgb", 0), ("rgb", 1), ("oklab", 0), ("oklab", 1)]
    times = {case: [] for case in cases}
    for run in range(runs + 1):
        for space, dither in cases:
            command = [sys.executable, "-m", "benchmarks.perceptual", "--big-worker", str(path), space,
                       str(dither)]
            output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT)
            if run:   # the first warms the caches (numba's compiled kernel among them)
                times[(space, dither)].append(json.loads(output.stdout)["seconds"])
    for (space, dither), seconds in times.items():
        print(f"space {space}, dither {dither}: {statistics.median(seconds):.2f} s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--k", type=int, nargs="+", default=list(KS))
    for part in ("scores", "times", "dither", "transparent", "big"):
        parser.add_argument(f"--no-{part}", action="store_true")
    parser.add_argument("--big-worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.big_worker:
        source, space, dither = args.big_worker
        big_worker(source, 16, space, float(dither))
        return
    BUILD.mkdir(parents=True, exist_ok=True)
    paths = write_samples(BUILD, PHOTOS)
    have_pngquant = shutil.which("pngquant") is not None
    if not have_pngquant:
        print("pngquant is not installed: its columns are empty")
    if not args.no_scores:
        print_scores(paths, args.k, have_pngquant)
    if not args.no_times:
        print_times(paths, args.runs)
    if not args.no_dither:
        print_dither(paths, have_pngquant)
    if not args.no_transparent:
        print_transparent(have_pngquant)
    if not args.no_big:
        print_big(args.runs)


if __name__ == "__main__":
    main()
