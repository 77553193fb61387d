"""The command line against pngquant and the best of 10 K-means runs: PSNR, time, PNG size (not a test).

For each sample photo (benchmarks/samples.py: the tulips, china and flower, as quality-95 JPEGs saved as
PNG files) and each k, and for the transparency cases:

- ours       colorquant's command line, called in-process (`colorquant.main([...])`, so the start of
             Python does not count), from the PNG file to the written PNG;
- pngquant   `pngquant --speed 1 --nofs` (Debian's package) as its own process, from the same PNG file
             to its written PNG;
- reference  (photos only) the best of 10 K-means runs: scikit-learn's KMeans(k, n_init=10,
             random_state=0) on the weighted distinct colours, centres rounded (benchmarks/reference.py).
             These take minutes, so they are cached in build/reference_psnr.json.

Times are the median of --runs runs, ours and pngquant's interleaved (one of each in turn), after one
warm-up run of each. The machine may be shared with other work: the times are noisy, and only the ratio
of interleaved runs means much. PSNR is that of colorquant.psnr (premultiplied RGBA for the transparency
cases, the error pngquant minimises too) between the input PNG and the written one.

Then the goal of issue 8, kept: within 0.1 dB of the best of 20 K-means runs on scikit-image's sample
photos (astronaut, coffee, chelsea) at k = 8, 16, 32, seeds 0 to 5 (quality only; --no-seeds skips it).
Then the command as a user runs it (--no-process skips it): the installed `colorquant` command (beside
this Python) against pngquant, each its own process, paired runs (one of each in turn, after a warm-up
of each, so the file is in the page cache), on the tulips PNG at k = 16 and 256: the median times and the
median of the pairs' ratios. The first process to use the compiled kernels compiles them (numba caches
the code for every later one): --compile-cost times that, in a cache of its own.
Last, a generated 24-megapixel photo (the tulips enlarged, with sensor-like noise) at k = 16 and 256,
saved as a PNG and as a quality-92 JPEG (a phone's photo is a JPEG; pngquant reads PNG only):
compress_image from the path (decoding included) and then png_bytes, each in a child process whose
peak resident memory (VmHWM) is reported; and the whole command on the PNG against pngquant, paired
runs, with their peak memory (GNU time's figure, when /usr/bin/time is installed); --no-big skips it.

The goals (issue 18): PSNR at or above pngquant's and within 0.10 dB of the reference; in-process time
at most pngquant's (half is the aim); as a process, at most 2x pngquant's at k = 16 and 256; on the
transparency cases, an error no higher than pngquant's; 24 MP: compress_image at k = 256 within 0.6 s,
at k = 16 within 3 s, the whole command at k = 256 no slower than pngquant and within 768 MiB.
Usage, from the repository root:
    python -m benchmarks.compress_benchmark [--runs 7] [--k 2 8 ...] [--no-photos] [--no-transparent]
                                            [--no-seeds] [--no-process] [--compile-cost] [--no-big]
"""
import argparse
import contextlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

import colorquant
from benchmarks.reference import best_of_kmeans_psnr
from benchmarks.samples import PHOTOS, TRANSPARENT, TULIPS, write_samples

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "compress_benchmark"
REFERENCE_CACHE = ROOT / "build" / "reference_psnr.json"
KS = (2, 8, 32, 64, 128, 256)
TRANSPARENT_KS = {"tulips_rgba": (16, 256), "logo": (16,), "shadow": (16,), "tulips_feathered": (16, 64)}
N_INIT = 10
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea")
BIG_SIZE = (6000, 4000)
PROCESS_KS = (16, 256)
COMMAND = Path(sys.executable).with_name("colorquant")   # the installed command, beside this Python


def reference_psnr(name, pixels, k, n_init=N_INIT):
    """PSNR of the best of n_init K-means runs on the pixels at k, from the cache or computed (and cached)."""
    cache = json.loads(REFERENCE_CACHE.read_text()) if REFERENCE_CACHE.exists() else {}
    key = f"{name} k={k} n_init={n_init} seed=0"
    if key not in cache:
        cache[key] = best_of_kmeans_psnr(pixels, k, n_init=n_init)
        REFERENCE_CACHE.parent.mkdir(parents=True, exist_ok=True)
        REFERENCE_CACHE.write_text(json.dumps(cache, indent=1, sort_keys=True))
    return cache[key]


def run_ours(source, target, k):
    """Time the command line in-process, from the PNG file to the written PNG."""
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        status = colorquant.main(["-k", str(k), "--force", "-o", str(target), str(source)])
    seconds = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f"colorquant failed on {source} at k = {k}")
    return seconds


def pngquant_command(source, target, k):
    return ["pngquant", "--speed", "1", "--nofs", "--force", "--output", str(target), str(k), str(source)]


def run_pngquant(source, target, k):
    """Time pngquant as its own process."""
    start = time.perf_counter()
    subprocess.run(pngquant_command(source, target, k), check=True, capture_output=True)
    return time.perf_counter() - start


def file_psnr(source, result):
    """colorquant.psnr between two image files (RGBA when either has transparency)."""
    with Image.open(source) as a, Image.open(result) as b:
        return colorquant.psnr(a, b)


def compare(name, source, k, runs, pngquant):
    """Interleaved runs of ours and pngquant on one image at one k: their median times, PSNR and sizes."""
    ours_png, theirs_png = BUILD / f"{name}_k{k}_ours.png", BUILD / f"{name}_k{k}_pngquant.png"
    times = {"ours": [], "pngquant": []}
    for run in range(runs + 1):   # run 0 warms up both
        ours = run_ours(source, ours_png, k)
        theirs = run_pngquant(source, theirs_png, k) if pngquant else float("nan")
        if run:
            times["ours"].append(ours)
            times["pngquant"].append(theirs)
    row = {"ours": (file_psnr(source, ours_png), statistics.median(times["ours"]), ours_png.stat().st_size)}
    if pngquant:
        row["pngquant"] = (file_psnr(source, theirs_png), statistics.median(times["pngquant"]),
                           theirs_png.stat().st_size)
    return row


def print_photos(paths, ks, runs, pngquant):
    """The table of the sample photos; returns the worst margins against the goals."""
    print("\n## sample photos (PSNR in dB, time in s, PNG size in kB; times: median of interleaved runs)")
    print(f"{'photo':8s} {'k':>4s} | {'ours':>7s} {'pngq':>7s} {'ref':>7s} {'-ref':>7s} {'-pngq':>7s} | "
          f"{'ours s':>7s} {'pngq s':>7s} {'ratio':>6s} | {'ours kB':>8s} {'pngq kB':>8s}")
    worst = {"ref": np.inf, "pngquant": np.inf, "ratio": 0.0}
    for k in ks:
        for name in PHOTOS:
            row = compare(name, paths[name], k, runs, pngquant)
            with Image.open(paths[name]) as image:
                reference = reference_psnr(name, np.asarray(image.convert("RGB")), k)
            quality, seconds, size = row["ours"]
            theirs = row.get("pngquant", (np.nan, np.nan, np.nan))
            worst["ref"] = min(worst["ref"], quality - reference)
            worst["pngquant"] = min(worst["pngquant"], quality - theirs[0])
            worst["ratio"] = max(worst["ratio"], seconds / theirs[1])
            print(f"{name:8s} {k:4d} | {quality:7.2f} {theirs[0]:7.2f} {reference:7.2f} "
                  f"{quality - reference:+7.3f} {quality - theirs[0]:+7.2f} | "
                  f"{seconds:7.3f} {theirs[1]:7.3f} "
                  f"{seconds / theirs[1]:5.2f}x | {size / 1000:8.1f} {theirs[2] / 1000:8.1f}", flush=True)
    return worst


def print_transparent(paths, runs, pngquant):
    """The table of the transparency cases: error against pngquant's, time and size."""
    print("\n## transparency cases (PSNR of premultiplied RGBA and alpha, in dB; times: median of "
          "interleaved runs)")
    print(f"{'case':17s} {'k':>4s} | {'ours':>7s} {'pngq':>7s} {'-pngq':>7s} | "
          f"{'ours s':>7s} {'pngq s':>7s} | "
          f"{'ours kB':>8s} {'pngq kB':>8s}")
    for name in TRANSPARENT:
        for k in TRANSPARENT_KS[name]:
            row = compare(name, paths[name], k, runs, pngquant)
            quality, seconds, size = row["ours"]
            theirs = row.get("pngquant", (np.nan, np.nan, np.nan))
            print(f"{name:17s} {k:4d} | {quality:7.2f} {theirs[0]:7.2f} {quality - theirs[0]:+7.2f} | "
                  f"{seconds:7.3f} {theirs[1]:7.3f} | {size / 1000:8.1f} {theirs[2] / 1000:8.1f}", flush=True)


def print_seeds(seeds=range(6)):
    """The goal of issue 8, still kept: within 0.1 dB of the best of 20 K-means runs on scikit-image's
    sample photos at k = 8, 16, 32, for every seed from 0 to 5."""
    print("\n## compress_image against the best of 20 K-means runs, scikit-image's photos, seeds 0-5")
    worst = np.inf
    for name in SKIMAGE_PHOTOS:
        pixels = getattr(data, name)()
        for k in (8, 16, 32):
            reference = reference_psnr(name, pixels, k, n_init=20)
            gaps = [colorquant.psnr(pixels, colorquant.compress_image(pixels, k, seed=seed).convert("RGB"))
                    - reference for seed in seeds]
            worst = min(worst, min(gaps))
            print(f"{name:10s} k = {k:2d}: worst {min(gaps):+.3f} dB, mean {np.mean(gaps):+.3f} dB",
                  flush=True)
    print(f"worst {worst:+.3f} dB (goal >= -0.10)")


# --- the command as a user runs it: whole processes ------------------------------------------------

def command(source, target, k):
    return [str(COMMAND), "-k", str(k), "--force", "-o", str(target), str(source)]


def timed_process(argv, env=None):
    """Wall time of one process, and its peak memory in MiB (GNU time's %M) when /usr/bin/time exists."""
    gnu_time = Path("/usr/bin/time").exists()
    start = time.perf_counter()
    done = subprocess.run((["/usr/bin/time", "-f", "%M"] if gnu_time else []) + argv, check=True,
                          capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    peak = int(done.stderr.strip().splitlines()[-1]) / 1024 if gnu_time else float("nan")
    return seconds, peak


def paired(ours, theirs, runs):
    """Paired runs of two commands (one of each in turn, after a warm-up of each): medians of their
    times and peaks, and the median of the pairs' time ratios."""
    timed_process(ours)
    timed_process(theirs)
    pairs = [(timed_process(ours), timed_process(theirs)) for _ in range(runs)]
    return {"ours": statistics.median(a[0] for a, _ in pairs),
            "theirs": statistics.median(b[0] for _, b in pairs),
            "ratio": statistics.median(a[0] / b[0] for a, b in pairs),
            "ours_peak": max(a[1] for a, _ in pairs), "theirs_peak": max(b[1] for _, b in pairs)}


def print_process(paths, runs):
    """The installed command against pngquant as processes, on the tulips PNG at PROCESS_KS."""
    print(f"\n## the command as a process ({COMMAND.name} against pngquant, tulips PNG; paired runs, median "
          f"of {runs})")
    for k in PROCESS_KS:
        row = paired(command(paths["tulips"], BUILD / f"process_k{k}_ours.png", k),
                     pngquant_command(paths["tulips"], BUILD / f"process_k{k}_pngquant.png", k), runs)
        print(f"k = {k:3d}: colorquant {row['ours']:6.3f} s, pngquant {row['theirs']:6.3f} s, "
              f"ratio {row['ratio']:4.2f}x (goal <= 2); peak {row['ours_peak']:4.0f} MiB against "
              f"{row['theirs_peak']:4.0f} MiB", flush=True)


def print_compile_cost(paths):
    """The first process's compiling of the kernels: the command at k = 256 with an empty numba cache of
    its own (NUMBA_CACHE_DIR), then again with that cache filled."""
    print("\n## compiling the kernels (first process only; numba caches the code)")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        argv = command(paths["tulips"], BUILD / "compile_k256.png", 256)
        first, _ = timed_process(argv, env)
        cached = statistics.median(timed_process(argv, env)[0] for _ in range(3))
    print(f"tulips, k = 256: first process {first:6.2f} s, later ones {cached:6.2f} s: compiling costs "
          f"{first - cached:5.2f} s once", flush=True)


# --- the 24-megapixel photo, each run in a child process of its own ---------------------------------

def make_big_photo(path):
    """A 24-megapixel 'photo': the tulips enlarged with Lanczos, plus +-3 levels of sensor-like noise,
    saved as a PNG (path) and as a quality-92 JPEG beside it."""
    with Image.open(TULIPS) as photo:
        pixels = np.asarray(photo.convert("RGB").resize(BIG_SIZE, Image.Resampling.LANCZOS), dtype=np.int16)
    noise = np.random.default_rng(0).integers(-3, 4, size=pixels.shape, dtype=np.int16)
    image = Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))
    image.save(path, compress_level=1)
    image.save(path.with_suffix(".jpg"), quality=92)


def peak_rss_mib():
    """This process's peak resident set size (VmHWM, Linux), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def big_worker(source, target, k):
    """In a child process: compress_image once on the big photo (from the path to the result, the goal's
    measure since issue 8), then the PNG writer; print their times and the peak memory. A warm-up on the
    tulips first loads the compiled kernels, as a batch's earlier files would have."""
    colorquant.compress_image(TULIPS, 256)
    kernels = colorquant._kmeans._kernels()
    if kernels is not None:
        kernels.count_codes(np.zeros(1, np.uint32), 255)
    start = time.perf_counter()
    result = colorquant.compress_image(source, k)
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    Path(target).write_bytes(colorquant.png_bytes(result))
    print(json.dumps({"seconds": seconds, "writer": time.perf_counter() - start, "peak": peak_rss_mib()}))


def print_big(pngquant, runs):
    """The 24-megapixel photo at k = 16 and 256: compress_image from a JPEG and from a PNG; the whole
    command on the PNG against pngquant; time and peak memory."""
    print("\n## generated 24-megapixel photo (compress_image: one run each, in a child process; peak RSS "
          "includes Python and the PNG writer)")
    source = BUILD / "big.png"
    if not source.exists() or not source.with_suffix(".jpg").exists():
        make_big_photo(source)
    for k in (16, 256):
        for photo in (source.with_suffix(".jpg"), source):
            target = BUILD / f"big_k{k}_{photo.suffix[1:]}_ours.png"
            done = subprocess.run([sys.executable, "-m", "benchmarks.compress_benchmark", "--big-worker",
                                   str(photo), str(target), str(k)], cwd=ROOT, check=True,
                                  capture_output=True, text=True)
            ours = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"k = {k:3d}, {photo.suffix[1:]:4s}: compress_image {ours['seconds']:6.2f} s "
                  f"(then png_bytes {ours['writer']:5.2f} s, {target.stat().st_size / 1e6:5.2f} MB), "
                  f"{ours['peak']:5.0f} MiB",
                  flush=True)
        if pngquant:
            ours_png, theirs_png = BUILD / f"big_k{k}_command.png", BUILD / f"big_k{k}_pngquant.png"
            row = paired(command(source, ours_png, k), pngquant_command(source, theirs_png, k), runs)
            print(f"k = {k:3d}, the command on the PNG: colorquant {row['ours']:6.2f} s, "
                  f"{row['ours_peak']:4.0f} MiB, {ours_png.stat().st_size / 1e6:5.2f} MB; "
                  f"pngquant {row['theirs']:6.2f} s, "
                  f"{row['theirs_peak']:4.0f} MiB, {theirs_png.stat().st_size / 1e6:5.2f} MB; ratio "
                  f"{row['ratio']:4.2f}x (median of {runs} pairs)", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each (default: 7)")
    parser.add_argument("--k", type=int, nargs="+", default=list(KS), help="the photos' k values")
    parser.add_argument("--no-photos", action="store_true", help="skip the sample photos")
    parser.add_argument("--no-transparent", action="store_true", help="skip the transparency cases")
    parser.add_argument("--no-seeds", action="store_true", help="skip scikit-image's photos at seeds 0-5")
    parser.add_argument("--no-process", action="store_true", help="skip the command as a process")
    parser.add_argument("--compile-cost", action="store_true",
                        help="time the first process's compiling of the kernels")
    parser.add_argument("--big-runs", type=int, default=3,
                        help="paired runs of the 24 MP command (default: 3)")
    parser.add_argument("--no-big", action="store_true", help="skip the 24-megapixel photo")
    parser.add_argument("--big-worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.big_worker:
        source, target, k = args.big_worker
        big_worker(source, target, int(k))
        return
    BUILD.mkdir(parents=True, exist_ok=True)
    pngquant = shutil.which("pngquant") is not None
    version = "not installed"
    if pngquant:
        version = subprocess.run(["pngquant", "--version"], capture_output=True, text=True,
                                 check=True).stdout.strip()
    print(f"{time.strftime('%Y-%m-%d')}: Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"pngquant {version}; load average {os.getloadavg()[0]:.1f} (times are noisy on a shared machine)")
    paths = write_samples(BUILD / "samples")
    if not args.no_photos:
        worst = print_photos(paths, args.k, args.runs, pngquant)
        print(f"\nworst: PSNR - reference {worst['ref']:+.3f} dB (goal >= -0.10), PSNR - pngquant "
              f"{worst['pngquant']:+.2f} dB (goal >= 0), time / pngquant {worst['ratio']:.2f}x (goal <= 1)")
    if not args.no_transparent:
        print_transparent(paths, args.runs, pngquant)
    if not args.no_seeds:
        print_seeds()
    if not args.no_process and pngquant and COMMAND.exists():
        print_process(paths, args.runs)
    if args.compile_cost and COMMAND.exists():
        print_compile_cost(paths)
    if not args.no_big:
        print_big(pngquant, args.big_runs)


if __name__ == "__main__":
    main()
