"""Time the notebook under nbval against a minimal notebook, in the same run on the same machine.

The budget (issue 17, down from 3x): the whole notebook takes at most 2.5x the time of a
minimal notebook that imports the same libraries, loads the tulips, fits one KMeans(n_clusters=8) and
shows one figure. Both are run REPEAT times through `python -m pytest --nbval-lax`; the medians are
compared. It first prints the slowest cells of one execution (where the time goes). Prints figures;
it is not a test. The notebooks run in a temporary directory, with the repository root on PYTHONPATH
for exercises.py and lesson_plots.py (colorquant itself is installed in .venv by make).
Usage: python -m benchmarks.notebook_runtime [REPEAT]   (from the repository root)
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "color_compression.ipynb"
BUDGET = 2.5

MINIMAL_CELLS = [
    """%matplotlib inline
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image, ImageOps
from skimage import color as skcolor
from sklearn.cluster import KMeans""",
    """with Image.open("images/tulips.jpg") as file:
    pixels = np.asarray(ImageOps.exif_transpose(file).convert("RGB"))
fit = KMeans(n_clusters=8, random_state=0).fit(pixels.reshape(-1, 3))""",
    """plt.imshow(fit.cluster_centers_.round().astype(np.uint8)[fit.labels_].reshape(pixels.shape))
plt.show()""",
]


def nbval_seconds(notebook, workdir):
    """Wall time of one `pytest --nbval-lax` run of the notebook, from workdir."""
    command = [sys.executable, "-m", "pytest", "-q", "-c", "/dev/null", "-p", "no:cacheprovider",
               "--nbval-lax", "--nbval-current-env", str(notebook)]
    start = time.perf_counter()
    subprocess.run(command, cwd=workdir, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def cell_profile(notebook, workdir, top=8):
    """Execute the notebook once with nbclient and print its slowest code cells: where the time goes."""
    from datetime import datetime

    from nbclient import NotebookClient

    executed = nbformat.read(notebook, as_version=4)
    NotebookClient(executed, timeout=600, record_timing=True,
                   resources={"metadata": {"path": str(workdir)}}).execute()
    rows = []
    for number, cell in enumerate((c for c in executed.cells if c.cell_type == "code"), 1):
        stamps = cell.metadata.get("execution", {})
        start = datetime.fromisoformat(stamps["iopub.execute_input"])
        end = datetime.fromisoformat(stamps["shell.execute_reply"])
        rows.append(((end - start).total_seconds(), number, cell.source.splitlines()[0][:70]))
    print(f"slowest code cells of {notebook.name} (of {sum(r[0] for r in rows):.1f} s in cells):")
    for seconds, number, first_line in sorted(rows, reverse=True)[:top]:
        print(f"  cell {number:2d}  {seconds:5.2f} s  {first_line}")


def main():
    repeat = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copytree(ROOT / "images", work / "images")
        full = work / NOTEBOOK.name
        shutil.copy(NOTEBOOK, full)
        minimal = work / "minimal.ipynb"
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in MINIMAL_CELLS]),
                       minimal)
        cell_profile(full, work)
        times = {"minimal": [], "full": []}
        for _ in range(repeat):   # interleaved, so that both see the same machine load
            times["minimal"].append(nbval_seconds(minimal, work))
            times["full"].append(nbval_seconds(full, work))
    med = {name: statistics.median(t) for name, t in times.items()}
    ratio = med["full"] / med["minimal"]
    for key, label in (("minimal", "minimal notebook under nbval:"), ("full", "color_compression.ipynb:")):
        runs = ", ".join(f"{t:.1f}" for t in times[key])
        print(f"{label:<30}median {med[key]:.1f} s  ({runs})")
    print(f"ratio {ratio:.2f}x (budget {BUDGET:g}x): {'within' if ratio <= BUDGET else 'OVER'} budget")


if __name__ == "__main__":
    main()
