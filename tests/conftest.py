"""Shared fixtures: the notebook as JSON, and the EXIF-rotated JPEG (built once per run)."""
import json

import pytest

from nbfile import NOTEBOOK
from pictures import rotated_jpeg_bytes


@pytest.fixture(scope="session")
def notebook():
    """The stored notebook, parsed as JSON."""
    return json.loads(NOTEBOOK.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def rotated_jpeg(tmp_path_factory):
    """A 48 x 32 JPEG with 'rotate 90' in its EXIF (shown 32 x 48): a path the tests only read."""
    path = tmp_path_factory.mktemp("rotated") / "phone.jpg"
    path.write_bytes(rotated_jpeg_bytes())
    return path
