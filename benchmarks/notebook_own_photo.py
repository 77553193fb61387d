"""A learner's own photo runs the notebook about as fast as the tulips. Prints figures; not a test.

The goal (issue "The notebook as a lesson"): with a 12-megapixel phone-size photo as IMAGE_PATH, the
whole notebook runs within 2.5x the tulips' time, and its kernel stays under 2 GiB. The 12-megapixel
photo is the tulips enlarged to 4000 x 3000 with Lanczos, plus +-3 levels of sensor-like noise, saved
as a JPEG (quality 90). Each notebook is executed REPEAT times in a fresh kernel with nbclient, from a
temporary folder (PYTHONPATH points at the repository, for exercises.py); times are wall times
including the kernel's start, and the peak memory is the kernel's peak resident set size (VmHWM, Linux only).
Usage: python -m benchmarks.notebook_own_photo [REPEAT]   (from the repository root)
"""
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import numpy as np
from nbclient import NotebookClient
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "color_compression.ipynb"
TULIPS = ROOT / "images" / "tulips.jpg"
BIG_SIZE = (4000, 3000)
TIME_BUDGET, MEMORY_BUDGET_MIB = 2.5, 2048
PEAK_CELL = ('print("VmHWM", [line.split()[1] for line in open("/proc/self/status")'
             ' if line.startswith("VmHWM")][0])')


def make_phone_photo(path):
    """A 12-megapixel JPEG: the tulips enlarged, with +-3 levels of noise."""
    with Image.open(TULIPS) as photo:
        pixels = np.asarray(photo.convert("RGB").resize(BIG_SIZE, Image.Resampling.LANCZOS), dtype=np.int16)
    noise = np.random.default_rng(0).integers(-3, 4, size=pixels.shape, dtype=np.int16)
    Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8)).save(path, quality=90)


def run_notebook(image_path, workdir):
    """Execute the notebook on image_path in a fresh kernel; return (seconds, kernel peak MiB)."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    parameters = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    parameters.source = parameters.source.replace('"images/tulips.jpg"', repr(str(image_path)))
    notebook.cells.append(nbformat.v4.new_code_cell(PEAK_CELL))
    start = time.perf_counter()
    NotebookClient(notebook, timeout=600, resources={"metadata": {"path": str(workdir)}}).execute()
    seconds = time.perf_counter() - start
    peak_kib = int(notebook.cells[-1].outputs[0]["text"].split()[1])
    return seconds, peak_kib / 1024


def main():
    repeat = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    os.environ["PYTHONPATH"] = str(ROOT)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        big = work / "phone_12mp.jpg"
        make_phone_photo(big)
        runs = {"tulips": [], "12 MP photo": []}
        for _ in range(repeat):   # interleaved, so that both see the same machine load
            runs["tulips"].append(run_notebook(TULIPS, work))
            runs["12 MP photo"].append(run_notebook(big, work))
    medians = {}
    for name, results in runs.items():
        times = [seconds for seconds, _ in results]
        medians[name] = statistics.median(times)
        print(f"{name:12s} median {medians[name]:5.1f} s ({', '.join(f'{t:.1f}' for t in times)}), "
              f"kernel peak {max(peak for _, peak in results):5.0f} MiB")
    ratio = medians["12 MP photo"] / medians["tulips"]
    peak = max(peak for _, peak in runs["12 MP photo"])
    print(f"time ratio {ratio:.2f}x (goal: at most {TIME_BUDGET}x); kernel peak {peak:.0f} MiB "
          f"(goal: under {MEMORY_BUDGET_MIB} MiB): "
          f"{'met' if ratio <= TIME_BUDGET and peak < MEMORY_BUDGET_MIB else 'NOT met'}")


if __name__ == "__main__":
    main()
