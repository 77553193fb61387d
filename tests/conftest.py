"""Shared fixtures: the notebook as JSON, and the code of its cells tagged `helpers` as a module."""
import json
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "color_compression.ipynb"


def tagged_cells(notebook, tag):
    """The code cells of a notebook (as JSON) that carry the given tag."""
    return [cell for cell in notebook["cells"]
            if cell["cell_type"] == "code" and tag in cell.get("metadata", {}).get("tags", [])]


@pytest.fixture(scope="session")
def notebook():
    """The stored notebook, parsed as JSON."""
    return json.loads(NOTEBOOK.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def helpers(notebook):
    """The cells tagged `helpers`, run alone in a fresh module, as a user would copy them."""
    module = types.ModuleType("notebook_helpers")
    for cell in tagged_cells(notebook, "helpers"):
        source = "".join(cell["source"])
        exec(compile(source, f"{NOTEBOOK.name} [helpers]", "exec"), module.__dict__)
    return module
