"""The notebook as a file: valid, run once top to bottom, clean outputs, credit, parameters, size."""
import hashlib
import itertools
import re

import nbformat
import pytest

from nbfile import NOTEBOOK, ROOT, tagged_cells

MAX_BYTES = 3_000_000
PHOTO_SHA256 = "f5921912645a62638fe780a9a39f4a4a61ebccfd46480648a26b0a9b00bb66fb"


def code_cells(notebook):
    return [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]


def output_texts(cell):
    """Every text a cell's stored outputs show: streams, plain text, HTML, error traces."""
    for output in cell.get("outputs", []):
        yield "".join(output.get("text", ""))
        for mime in ("text/plain", "text/html"):
            yield "".join(output.get("data", {}).get(mime, ""))
        yield "\n".join(output.get("traceback", []))


def test_is_valid_nbformat():
    nbformat.validate(nbformat.read(NOTEBOOK, as_version=4))


def test_outputs_come_from_one_top_to_bottom_run(notebook):
    counts = [cell.get("execution_count") for cell in code_cells(notebook)]
    assert counts == list(range(1, len(counts) + 1)), "run `make refresh` (Restart & Run All)"
    assert all(cell.get("outputs") is not None for cell in code_cells(notebook))


def test_file_is_under_size_limit():
    assert NOTEBOOK.stat().st_size < MAX_BYTES


def test_no_errors_or_warnings_stored(notebook):
    for number, cell in enumerate(code_cells(notebook), 1):
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error", f"code cell {number} stored an error"
            assert output.get("name") != "stderr", f"code cell {number} printed to stderr (a warning?)"


@pytest.mark.parametrize("pattern", [r"/tmp/", r"/home/", r"/root/", r"/Users/", r"[A-Za-z]:\\\\", r"0x[0-9a-f]{6,}"])
def test_no_machine_paths_or_addresses_in_outputs(notebook, pattern):
    for number, cell in enumerate(code_cells(notebook), 1):
        for text in output_texts(cell):
            assert not re.search(pattern, text), f"code cell {number} output matches {pattern!r}: {text[:80]!r}"


def test_no_figure_or_estimator_reprs_as_cell_values(notebook):
    """Figures end with plt.show() and estimators are assigned, so no repr becomes a cell's value."""
    for number, cell in enumerate(code_cells(notebook), 1):
        for output in cell.get("outputs", []):
            if output["output_type"] == "execute_result":
                text = "".join(output["data"].get("text/plain", ""))
                assert not text.startswith(("<Figure", "<matplotlib", "KMeans(")), f"code cell {number}: {text[:60]}"
                assert "text/html" not in output["data"], f"code cell {number} stores an HTML repr"


def test_every_code_cell_follows_a_markdown_cell(notebook):
    cells = notebook["cells"]
    for before, cell in itertools.pairwise(cells):
        if cell["cell_type"] == "code":
            assert before["cell_type"] == "markdown", f"no explanation before: {''.join(cell['source'])[:60]!r}"


def test_photo_credit_is_given(notebook):
    first = "".join(notebook["cells"][0]["source"])
    for needed in ("Dan Kamminga", "CC BY 2.0", "creativecommons.org/licenses/by/2.0",
                   "flickr.com/photos/dankamminga/11746080"):
        assert needed in first, f"the title cell must credit the photo: {needed!r} missing"
    source = "".join("".join(cell["source"]) for cell in code_cells(notebook))
    assert "CREDIT" in source and "Kamminga" in source, "figures and saved images must carry the credit"
    readme = (ROOT / "images" / "README.md").read_text(encoding="utf-8")
    assert "Dan Kamminga" in readme and "CC BY 2.0" in readme


def test_photo_is_the_unchanged_original():
    assert hashlib.sha256((ROOT / "images" / "tulips.jpg").read_bytes()).hexdigest() == PHOTO_SHA256


def test_parameters_cell(notebook):
    cells = tagged_cells(notebook, "parameters")
    assert len(cells) == 1, "exactly one cell tagged `parameters`"
    source = "".join(cells[0]["source"])
    for name in ("IMAGE_PATH", "N_COLORS", "SEED", "OUTPUT_DIR"):
        assert re.search(rf"^{name} = ", source, re.MULTILINE), f"{name} missing from the parameters cell"


def test_seed_is_set_only_in_parameters(notebook):
    """One seed: no code cell writes a literal random_state or seed of its own."""
    for cell in code_cells(notebook):
        if "helpers" in cell.get("metadata", {}).get("tags", []):
            continue
        source = "".join(cell["source"])
        assert not re.search(r"random_state=\d|default_rng\(\d|seed=\d", source), source[:80]


def test_only_timing_outputs_are_ignored_by_nbval(notebook):
    for cell in code_cells(notebook):
        source = "".join(cell["source"])
        if "NBVAL_IGNORE_OUTPUT" in source or "NBVAL_SKIP" in source:
            assert re.search(r"perf_counter| ms\b| s\b", source), f"ignored cell is not a timing: {source[:80]!r}"
