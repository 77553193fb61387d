"""PNG file sizes of colorquant.png_bytes against pngquant and Pillow, on equal pixels.

Prints figures; not a test.

The cases (issue 13, point 3): the opaque sample photos (tulips, china, flower) at k = 16 and 256, and the
transparency cases tulips_rgba (k = 16 and 256), logo (k = 16), shadow (k = 16) and tulips_feathered
(k = 64), as benchmarks/samples.py writes them.

Two kinds of rows, each comparing encoders on the same pixels:

- pngquant rows (when pngquant is installed): pngquant's own output (`pngquant --speed 1 --nofs K`) is read
  back as a palette image; ours is png_bytes after _order_palette on its palette and index, so the pixels
  are pngquant's exactly. "pngquant" is pngquant's file, "Pillow" Pillow's default save of the same image,
  "unordered" png_bytes without _order_palette (what the palette order alone gains).
- compress_image rows: compress_image(path, k, seed=0), written by png_bytes and by Pillow's default save.
  Until compress_image returns palette images for transparent inputs, those rows are RGBA images that
  png_bytes hands to Pillow.

Times are the median of REPEAT runs of each step, in this process (the machine may be shared: compare
within a run): "order" is _order_palette, "ours" png_bytes (wall clock; "ours CPU" its process time, all
of oxipng's threads), "Pillow" Pillow's default save. What the optimiser costs is ours minus Pillow's
time, for the kB it saves. With --big, also a 24-megapixel photo
(benchmarks.compress_benchmark's) at k = 16 and 256, through pngquant (about 15 s each) when installed.
Usage, from the repository root: python -m benchmarks.png_size [--repeat N] [--big]
"""
import argparse
import io
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.samples import write_samples
from colorquant import compress_image, png_bytes
from colorquant._order import _order_palette
from colorquant._png import _indexed

CASES = (("tulips", 16), ("tulips", 256), ("china", 16), ("china", 256), ("flower", 16), ("flower", 256),
         ("tulips_rgba", 16), ("tulips_rgba", 256), ("logo", 16), ("shadow", 16), ("tulips_feathered", 64))


def median_time(function, repeat, clock=time.perf_counter):
    """The function's result and the median of its times over repeat runs, in seconds."""
    times = []
    for _ in range(repeat):
        start = clock()
        result = function()
        times.append(clock() - start)
    return result, statistics.median(times)


def pillow_default(image):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def ordered_image(image):
    """The palette image with its palette ordered by _order_palette: the same pixels."""
    palette, index = _indexed(image)
    palette, index = _order_palette(palette, index)
    result = Image.frombytes("P", image.size, index.tobytes())
    result.putpalette(palette.tobytes(), rawmode="RGBA")
    return result


def same_pixels(a, b):
    return np.array_equal(np.asarray(a.convert("RGBA")), np.asarray(b.convert("RGBA")))


def pngquant(source, target, k):
    command = ["pngquant", "--speed", "1", "--nofs", "--force", "--output", str(target), str(k), str(source)]
    subprocess.run(command, check=True)
    with Image.open(target) as image:
        image.load()
    return image


def measure(image, repeat):
    """(ours, Pillow, unordered) byte counts and (order, ours, ours CPU, Pillow) times in ms, for one
    palette image."""
    ordered, order_time = median_time(lambda: ordered_image(image), repeat)
    ours, ours_time = median_time(lambda: png_bytes(ordered), repeat)
    ours_cpu = median_time(lambda: png_bytes(ordered), repeat, time.process_time)[1]
    pillow, pillow_time = median_time(lambda: pillow_default(image), repeat)
    with Image.open(io.BytesIO(ours)) as written:
        if not same_pixels(written, image):
            raise AssertionError("png_bytes changed the pixels")
    return (len(ours), len(pillow), len(png_bytes(image))), tuple(
        1000 * t for t in (order_time, ours_time, ours_cpu, pillow_time))


HEADER = (f"{'case':17} {'k':>4} {'ours kB':>8} {'pngquant':>8} {'Pillow':>8} {'unordered':>9}   "
          f"{'order ms':>8} {'ours ms':>8} {'ours CPU':>8} {'Pillow ms':>9}")


def row(name, k, sizes, times, reference=None):
    ours, pillow, unordered = (size / 1000 for size in sizes)
    quant = f"{reference / 1000:8.1f}" if reference is not None else f"{'-':>8}"
    flag = "" if reference is None or sizes[0] <= reference else "   LARGER than pngquant"
    print(f"{name:17} {k:4d} {ours:8.1f} {quant} {pillow:8.1f} {unordered:9.1f}   "
          f"{times[0]:8.1f} {times[1]:8.1f} {times[2]:8.1f} {times[3]:9.1f}{flag}", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per timing (median); default 5")
    parser.add_argument("--big", action="store_true", help="also a 24-megapixel photo (slow)")
    args = parser.parse_args(argv)
    has_pngquant = shutil.which("pngquant") is not None
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        paths = write_samples(folder / "samples")
        if has_pngquant:
            print("pngquant's pixels, written by png_bytes (after _order_palette), pngquant and Pillow")
            print(HEADER)
            for name, k in CASES:
                image = pngquant(paths[name], folder / f"{name}_pq{k}.png", k)
                sizes, times = measure(image, args.repeat)
                row(name, k, sizes, times, (folder / f"{name}_pq{k}.png").stat().st_size)
        else:
            print("pngquant is not installed: no pngquant rows")
        print("\ncompress_image(path, k, seed=0), written by png_bytes and Pillow (mode of its result)")
        print(HEADER)
        for name, k in CASES:
            result = compress_image(paths[name], k, seed=0)
            if result.mode == "P":
                sizes, times = measure(result, args.repeat)
            else:
                ours, ours_time = median_time(lambda result=result: png_bytes(result), args.repeat)
                pillow, pillow_time = median_time(lambda result=result: pillow_default(result), args.repeat)
                sizes = (len(ours), len(pillow), len(ours))
                times = (0.0, 1000 * ours_time, float("nan"), 1000 * pillow_time)
            reference = None
            if has_pngquant:
                reference = (folder / f"{name}_pq{k}.png").stat().st_size
            row(f"{name} ({result.mode})", k, sizes, times, reference)
        if args.big:
            from benchmarks.compress_benchmark import make_big_photo
            big = folder / "big.png"
            make_big_photo(big)
            print("\n24-megapixel photo" + ("" if has_pngquant else ": compress_image only"))
            print(HEADER)
            for k in (16, 256):
                if has_pngquant:
                    image = pngquant(big, folder / f"big_pq{k}.png", k)
                    sizes, times = measure(image, 1)
                    row("big (pngquant)", k, sizes, times, (folder / f"big_pq{k}.png").stat().st_size)
                elif k == 16:
                    sizes, times = measure(compress_image(big, k, seed=0), 1)
                    row("big (compress)", k, sizes, times)


if __name__ == "__main__":
    main()
