"""The notebook runs top to bottom on another, larger photo, as the README promises: it works on a
shrunken copy, credits that photo's author on every figure of it, and leaves the file untouched."""
import hashlib
import io
import re
from contextlib import redirect_stdout

import matplotlib.backend_bases
import matplotlib.pyplot as plt
import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient
from PIL import Image
from skimage import data

from nbfile import NOTEBOOK, ROOT, tagged_cells

OTHER_CREDIT = "Test Photographer, example.org/coffee, CC BY 4.0"

# Run after the imports cell: every figure the notebook displays is checked for the credit. A figure
# "shows the photo" when it holds an image of at least 32 x 32 pixels or a 3-D plot of its pixels, unless the
# notebook marks it as its own graphic (figure label "graphic": the chart it draws, which needs no credit).
# The first figure is the first result: its first two images are the photo and its K-means version, whose
# colours are probed for what K-means gives (each colour the rounded mean of its pixels, each pixel's colour
# the nearest of the palette).
CREDIT_PROBE = f'''
import matplotlib.backend_bases
import numpy as _np
_print_figure = matplotlib.backend_bases.FigureCanvasBase.print_figure
_seen = []


def _kmeans_facts(fig):
    shown = [_np.asarray(i.get_array())[..., :3] for ax in fig.axes for i in ax.get_images()]
    if len(shown) < 2 or shown[0].shape != shown[1].shape:
        print("FIRST colours=0 mean_gap=255 nearest=0")
        return
    original, compressed = shown[:2]
    colours, labels = _np.unique(compressed.reshape(-1, 3), axis=0, return_inverse=True)
    pixels, labels = original.reshape(-1, 3).astype(float), labels.ravel()
    means = _np.array([pixels[labels == j].mean(axis=0) for j in range(len(colours))])
    nearest = ((pixels[:, None, :] - colours[None].astype(float)) ** 2).sum(axis=2).argmin(axis=1)
    print(f"FIRST colours={{len(colours)}} mean_gap={{_np.abs(_np.rint(means) - colours).max():.0f}} "
          f"nearest={{_np.mean(nearest == labels):.4f}}")


def _probe(canvas, *args, **kwargs):
    fig = canvas.figure
    graphic = fig.get_label() == "graphic"
    big_image = any(min(i.get_array().shape[:2]) >= 32 for ax in fig.axes for i in ax.get_images())
    photo = not graphic and (big_image or any(ax.name == "3d" for ax in fig.axes))
    if not _seen:
        _seen.append(fig)
        _kmeans_facts(fig)
    sizes = [t.get_fontsize() for t in fig.texts if {OTHER_CREDIT!r} in t.get_text().replace("\\n", " ")]
    print(f"FIGURE photo={{photo}} graphic={{graphic}} credit_size={{max(sizes, default=0)}}")
    return _print_figure(canvas, *args, **kwargs)


matplotlib.backend_bases.FigureCanvasBase.print_figure = _probe
'''

# Run after the last cell: the k = 3 fit that section 4 plots ends in a fixed point of Lloyd's loop (each
# label the nearest centroid, each centroid the mean of its pixels), and the inertia it logged never rises.
LLOYD_PROBE = '''
_points = X.astype(float)
_nearest = ((_points[:, None, :] - sk_small.cluster_centers_[None]) ** 2).sum(axis=2).argmin(axis=1)
_means = [_points[sk_small.labels_ == j].mean(axis=0) for j in range(len(sk_small.cluster_centers_))]
print("LLOYD", _np.array_equal(_nearest, sk_small.labels_), _np.allclose(_means, sk_small.cluster_centers_),
      bool(_np.all(_np.diff(inertias) <= 1e-9 * inertias[0])), len(inertias) == sk_small.n_iter_)
'''


def with_solutions(notebook):
    """The notebook with each exercise cell holding its folded solution, as a learner who solved them all."""
    cells = notebook.cells
    for i, cell in enumerate(cells[:-1]):
        solution = re.search(r"<summary>Solution \d+</summary>\s*```python\n(.*?)```", cells[i + 1].source,
                             flags=re.DOTALL)
        if cell.cell_type == "code" and solution:
            lines = cell.source.splitlines()
            cell.source = "\n".join([lines[0], "", solution.group(1), lines[-1]])   # import, solution, check


@pytest.fixture(scope="module")
def other_run(tmp_path_factory):
    """The notebook executed on a 1200 x 800 coffee photo stored sideways (EXIF), with its own credit."""
    folder = tmp_path_factory.mktemp("other")
    exif = Image.Exif()
    exif[0x0112] = 6                                 # stored sideways, shown upright
    photo = folder / "coffee.jpg"
    Image.fromarray(data.coffee()).resize((1200, 800)).save(photo, exif=exif)
    before = hashlib.sha256(photo.read_bytes()).hexdigest()

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    (parameters,) = tagged_cells(notebook, "parameters")
    source = parameters.source.replace('"images/tulips.jpg"', f'"{photo.name}"')
    source = re.sub(r"PHOTO_CREDIT = \(.*?\)   #", f"PHOTO_CREDIT = {OTHER_CREDIT!r}   #", source,
                    flags=re.DOTALL)
    assert photo.name in source and OTHER_CREDIT in source
    parameters.source = source
    with_solutions(notebook)
    first_code = next(i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code")
    notebook.cells.insert(first_code + 1, nbformat.v4.new_code_cell(CREDIT_PROBE))
    notebook.cells.append(nbformat.v4.new_code_cell(LLOYD_PROBE))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", str(ROOT))       # colorquant/ and exercises.py
        NotebookClient(notebook, timeout=300, resources={"metadata": {"path": str(folder)}}).execute()
    return folder, photo, before, notebook


def test_photo_is_left_untouched(other_run):
    _, photo, before, _ = other_run
    assert hashlib.sha256(photo.read_bytes()).hexdigest() == before


def test_lesson_works_on_a_shrunken_upright_copy(other_run):
    _, _, _, notebook = other_run
    shapes = [output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.outputs if "shape (" in output.get("text", "")]
    assert shapes and shapes[0].startswith("shape (500, 333, 3)"), shapes[:1]


def test_compress_image_works_at_full_size(other_run):
    folder, _, _, _ = other_run
    with Image.open(folder / "build" / "coffee_compress_image_k16.png") as result:
        assert result.mode == "P" and result.size == (800, 1200)   # 1200 x 800 stored, turned upright
        assert OTHER_CREDIT in result.text["Copyright"]


def probe_lines(notebook, prefix):
    """The lines a probe printed, starting with prefix."""
    return [line for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
            for line in output.get("text", "").splitlines() if line.startswith(prefix)]


def test_every_figure_of_the_photo_carries_a_legible_credit(other_run):
    _, _, _, notebook = other_run
    probes = probe_lines(notebook, "FIGURE ")
    photo_figures = [line for line in probes if "photo=True" in line]
    assert len(photo_figures) >= 7, probes   # the photo, its crops and 3-D scatters of its pixels
    for line in photo_figures:
        size = float(line.split("credit_size=")[1])
        assert size >= 8, f"a figure of the photo has no legible credit: {line}"


def test_the_graphic_is_shown_without_the_photo_credit(other_run):
    """The chart the notebook draws is told apart from the photo: shown, not credited to the photographer."""
    _, _, _, notebook = other_run
    graphic_figures = [line for line in probe_lines(notebook, "FIGURE ") if "graphic=True" in line]
    assert graphic_figures
    assert all(line.endswith("credit_size=0") for line in graphic_figures), graphic_figures


def test_first_result_is_a_kmeans_palette_of_the_photo(other_run):
    """The first figure shows the photo and a version with N_COLORS colours, each the rounded mean of the
    pixels that have it, and each pixel's colour the nearest in that palette: what K-means produces."""
    _, _, _, notebook = other_run
    (first,) = probe_lines(notebook, "FIRST ")
    facts = dict(item.split("=") for item in first.split()[1:])
    assert int(facts["colours"]) == 16
    assert int(facts["mean_gap"]) <= 1, first
    assert float(facts["nearest"]) >= 0.99, first


def test_lloyd_loop_shown_ends_in_a_fixed_point_with_falling_inertia(other_run):
    _, _, _, notebook = other_run
    (line,) = probe_lines(notebook, "LLOYD ")
    assert line == "LLOYD True True True True", line


def test_solved_exercises_pass_in_the_notebook_and_the_rest_runs(other_run):
    """With every folded solution in its exercise cell, each check prints Correct! and the cells after
    them still run (the lesson does not depend on the learner's functions)."""
    _, _, _, notebook = other_run
    answers = probe_lines(notebook, "Correct!")
    assert len(answers) == 6, answers
    assert not [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
                if output.get("output_type") == "error"]


def test_saved_images_are_credited(other_run):
    folder, _, _, _ = other_run
    saved = sorted((folder / "build").glob("*.png"))
    assert len(saved) >= 9
    for path in saved:
        with Image.open(path) as image:
            assert OTHER_CREDIT in image.text["Copyright"], path.name


def test_credit_probe_sees_a_figure_without_credit():
    """The probe itself: a figure of a photo-sized image with no credit text is reported as such."""
    namespace = {}
    exec(compile(CREDIT_PROBE, "probe", "exec"), namespace)  # noqa: S102 - the probe the notebook run uses
    fig, ax = plt.subplots()
    ax.imshow(np.zeros((40, 40, 3)))
    out = io.StringIO()
    try:
        with redirect_stdout(out):
            fig.canvas.print_figure(io.BytesIO(), format="png")
    finally:
        matplotlib.backend_bases.FigureCanvasBase.print_figure = namespace["_print_figure"]
        plt.close(fig)
    assert out.getvalue().strip().splitlines()[-1] == "FIGURE photo=True graphic=False credit_size=0"
