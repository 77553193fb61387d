"""Load the code of the notebook's cells that carry a tag (e.g. `helpers`) into a fresh module."""
import json
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "color_compression.ipynb"


def tagged_cells(notebook, tag):
    """The code cells of a notebook (parsed JSON) that carry the given tag."""
    return [cell for cell in notebook["cells"]
            if cell["cell_type"] == "code" and tag in cell.get("metadata", {}).get("tags", [])]


def load_tagged_code(tag="helpers", path=NOTEBOOK):
    """Run the cells with this tag, alone and in order, in a new module, and return the module."""
    notebook = json.loads(Path(path).read_text(encoding="utf-8"))
    module = types.ModuleType(f"notebook_{tag}")
    for cell in tagged_cells(notebook, tag):
        exec(compile("".join(cell["source"]), f"{Path(path).name} [{tag}]", "exec"), module.__dict__)
    return module
