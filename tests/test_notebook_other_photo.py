"""The notebook runs top to bottom on another photo, as the README promises, and leaves it untouched."""
import hashlib

import nbformat
import numpy as np
from nbclient import NotebookClient
from PIL import Image
from skimage import data

from nbfile import NOTEBOOK, tagged_cells


def test_notebook_runs_on_another_photo(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6                                 # stored sideways, shown upright
    photo = tmp_path / "coffee.jpg"
    Image.fromarray(np.ascontiguousarray(data.coffee()[::3, ::3])).save(photo, exif=exif)
    before = hashlib.sha256(photo.read_bytes()).hexdigest()

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    (parameters,) = tagged_cells(notebook, "parameters")
    parameters.source = parameters.source.replace('"images/tulips.jpg"', f'"{photo.name}"')
    assert photo.name in parameters.source
    NotebookClient(notebook, timeout=300, resources={"metadata": {"path": str(tmp_path)}}).execute()

    assert hashlib.sha256(photo.read_bytes()).hexdigest() == before
    saved = tmp_path / "build" / "coffee_compress_image_k16.png"
    with Image.open(saved) as result:
        assert result.mode == "P" and result.size == (134, 200)   # 200 x 134 stored, turned upright
        assert "Photo:" in result.text["Copyright"]
