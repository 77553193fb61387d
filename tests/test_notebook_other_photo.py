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
# "shows the photo" when it holds an image of at least 32 x 32 pixels or a 3-D plot of its pixels.
CREDIT_PROBE = f'''
import matplotlib.backend_bases
_print_figure = matplotlib.backend_bases.FigureCanvasBase.print_figure


def _probe(canvas, *args, **kwargs):
    fig = canvas.figure
    photo = any(ax.name == "3d" or any(min(i.get_array().shape[:2]) >= 32 for i in ax.get_images())
                for ax in fig.axes)
    sizes = [t.get_fontsize() for t in fig.texts if {OTHER_CREDIT!r} in t.get_text().replace("\\n", " ")]
    print(f"FIGURE photo={{photo}} credit_size={{max(sizes, default=0)}}")
    return _print_figure(canvas, *args, **kwargs)


matplotlib.backend_bases.FigureCanvasBase.print_figure = _probe
'''


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
    source = re.sub(r"PHOTO_CREDIT = \(.*?\)   #", f"PHOTO_CREDIT = {OTHER_CREDIT!r}   #", source, flags=re.DOTALL)
    assert photo.name in source and OTHER_CREDIT in source
    parameters.source = source
    first_code = next(i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code")
    notebook.cells.insert(first_code + 1, nbformat.v4.new_code_cell(CREDIT_PROBE))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", str(ROOT))       # colorquant.py and exercises.py
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


def test_every_figure_of_the_photo_carries_a_legible_credit(other_run):
    _, _, _, notebook = other_run
    probes = [line for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
              for line in output.get("text", "").splitlines() if line.startswith("FIGURE ")]
    photo_figures = [line for line in probes if "photo=True" in line]
    assert len(photo_figures) >= 8, probes
    for line in photo_figures:
        size = float(line.split("credit_size=")[1])
        assert size >= 8, f"a figure of the photo has no legible credit: {line}"


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
    assert out.getvalue().strip() == "FIGURE photo=True credit_size=0"
