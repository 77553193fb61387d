"""Where the notebook is, and its cells by tag: test support for the tests of the notebook file."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "color_compression.ipynb"


def tagged_cells(notebook, tag):
    """The code cells of a notebook (parsed JSON) that carry the given tag."""
    return [cell for cell in notebook["cells"]
            if cell["cell_type"] == "code" and tag in cell.get("metadata", {}).get("tags", [])]
