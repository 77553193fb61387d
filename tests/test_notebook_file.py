"""The notebook as a file: valid, run once top to bottom, clean outputs, credit, parameters, size."""
import hashlib
import itertools
import re

import nbformat
import pytest

from nbfile import NOTEBOOK, ROOT, tagged_cells

MAX_BYTES = 5_000_000
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


@pytest.mark.parametrize("pattern", [r"/tmp/", r"/home/", r"/root/", r"/Users/", r"[A-Za-z]:\\\\",
                                     r"0x[0-9a-f]{6,}"])
def test_no_machine_paths_or_addresses_in_outputs(notebook, pattern):
    for number, cell in enumerate(code_cells(notebook), 1):
        for text in output_texts(cell):
            assert not re.search(pattern, text), \
                f"code cell {number} output matches {pattern!r}: {text[:80]!r}"


def test_no_figure_or_estimator_reprs_as_cell_values(notebook):
    """Figures end with plt.show() and estimators are assigned, so no repr becomes a cell's value."""
    for number, cell in enumerate(code_cells(notebook), 1):
        for output in cell.get("outputs", []):
            if output["output_type"] == "execute_result":
                text = "".join(output["data"].get("text/plain", ""))
                assert not text.startswith(("<Figure", "<matplotlib", "KMeans(")), \
                    f"code cell {number}: {text[:60]}"
                assert "text/html" not in output["data"], f"code cell {number} stores an HTML repr"


def test_every_code_cell_follows_a_markdown_cell(notebook):
    cells = notebook["cells"]
    for before, cell in itertools.pairwise(cells):
        if cell["cell_type"] == "code":
            source = "".join(cell["source"])
            assert before["cell_type"] == "markdown", f"no explanation before: {source[:60]!r}"


def test_photo_credit_is_given(notebook):
    first = "".join(notebook["cells"][0]["source"])
    for needed in ("Dan Kamminga", "CC BY 2.0", "creativecommons.org/licenses/by/2.0",
                   "flickr.com/photos/dankamminga/11746080"):
        assert needed in first, f"the title cell must credit the photo: {needed!r} missing"
    (parameters,) = tagged_cells(notebook, "parameters")
    assert "Dan Kamminga" in "".join(parameters["source"]), "PHOTO_CREDIT, shown on every figure of the photo"
    # that every figure shows it is checked on a run: tests/test_notebook_other_photo.py
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
        source = "".join(cell["source"])
        assert not re.search(r"random_state=\d|default_rng\(\d|seed=\d", source), source[:80]


def test_only_timings_and_the_slider_are_ignored_by_nbval(notebook):
    """Ignored cells are tagged: "timing" cells store only times in ms, the one "widget" cell a widget."""
    ignored = [cell for cell in code_cells(notebook)
               if re.search(r"NBVAL_(IGNORE_OUTPUT|SKIP)", "".join(cell["source"]))]
    tags = [set(cell.get("metadata", {}).get("tags", [])) & {"timing", "widget"} for cell in ignored]
    assert all(len(tag) == 1 for tag in tags), "each ignored cell is tagged timing or widget"
    assert [tag for tag in tags if "widget" in tag] == [{"widget"}], "one widget cell"
    for cell, tag in zip(ignored, tags, strict=True):
        if tag == {"timing"}:
            lines = [line for text in output_texts(cell) for line in text.splitlines() if line.strip()]
            assert lines and all(re.search(r"\d ms$", line) for line in lines), lines
        else:
            assert any("application/vnd.jupyter.widget-view+json" in output.get("data", {})
                       for output in cell["outputs"])


def markdown_words(notebook):
    """Whitespace-separated words of the markdown cells, without the folded <details> solutions, per cell."""
    return [len(re.sub(r"<details>.*?</details>", "", "".join(cell["source"]), flags=re.DOTALL).split())
            if cell["cell_type"] == "markdown" else 0 for cell in notebook["cells"]]


def sections(notebook):
    """{section number: (words of prose, code cells)}, a section running from its "## N." heading."""
    counts, current = {}, 0
    for cell, words in zip(notebook["cells"], markdown_words(notebook), strict=True):
        heading = re.search(r"^## (\d+)\.", "".join(cell["source"]), flags=re.MULTILINE)
        if heading:   # the words before the heading (in the same cell) belong to the section before
            before = len(re.sub(r"<details>.*?</details>", "", "".join(cell["source"])[:heading.start()],
                                flags=re.DOTALL).split())
            counts[current] = (counts.get(current, (0, 0))[0] + before, counts.get(current, (0, 0))[1])
            current, words = int(heading.group(1)), words - before
        prose, code = counts.get(current, (0, 0))
        counts[current] = (prose + words, code + (cell["cell_type"] == "code"))
    return counts


def test_prose_is_at_most_2700_words(notebook):
    assert sum(markdown_words(notebook)) <= 2700


def test_where_a_palette_pays_is_short(notebook):
    """The section "When does a palette pay?" (the size story, the bits cell included): at most 450 words
    and 4 code cells."""
    titles = [re.search(r"^## (\d+)\. When does a palette pay\?", "".join(cell["source"]), flags=re.MULTILINE)
              for cell in notebook["cells"] if cell["cell_type"] == "markdown"]
    numbers = [int(title.group(1)) for title in titles if title]
    assert len(numbers) == 1, numbers
    prose, code = sections(notebook)[numbers[0]]
    assert prose <= 450 and code <= 4, (prose, code)


def test_sections_counts_a_heading_in_the_middle_of_a_cell():
    """The counter itself: words before a heading go to the previous section."""
    cells = [{"cell_type": "markdown", "source": "one two\n\n## 6. Title\n\nthree"},
             {"cell_type": "code", "source": "x = 1"}, {"cell_type": "markdown", "source": "four"}]
    assert sections({"cells": cells}) == {0: (2, 0), 6: (5, 1)}


def test_first_result_comes_early_and_in_plain_sight(notebook):
    """The first figure (the compressed photo: its K-means properties are probed on the run in
    test_notebook_other_photo.py) is stored within the first 10 code cells and 900 words."""
    code_seen, words_before = 0, 0
    for cell, cell_words in zip(notebook["cells"], markdown_words(notebook), strict=True):
        code_seen += cell["cell_type"] == "code"
        words_before += cell_words
        if any("image/png" in output.get("data", {}) for output in cell.get("outputs", [])):
            break
    assert code_seen <= 10, f"the first result is code cell {code_seen}"
    assert words_before <= 900, f"{words_before} words before the first result"


def test_every_figure_has_alternative_text(notebook):
    """Each stored image carries a description (alt) in its output metadata..."""
    for number, cell in enumerate(code_cells(notebook), 1):
        for output in cell.get("outputs", []):
            if "image/png" in output.get("data", {}):
                alt = output.get("metadata", {}).get("image/png", {}).get("alt", "")
                assert len(alt.split()) >= 5, f"code cell {number}: a figure without alternative text"


def test_html_export_gives_every_image_its_alt():
    """...and `make run`'s HTML export (the classic template) puts it on every <img>."""
    from nbconvert import HTMLExporter

    html, _ = HTMLExporter(template_name="classic").from_notebook_node(nbformat.read(NOTEBOOK, as_version=4))
    assert "<img" in html and "No description has been provided" not in html


def test_code_cells_are_short(notebook):
    for number, cell in enumerate(code_cells(notebook), 1):
        lines = "".join(cell["source"]).splitlines()
        assert len(lines) <= 20, f"code cell {number} has {len(lines)} lines"
        assert max(map(len, lines), default=0) <= 110, f"code cell {number} has a line over 110 characters"


def test_exercises_end_with_a_check_and_have_folded_solutions(notebook):
    checks = [cell for cell in code_cells(notebook)
              if re.search(r"^check_\w+\(", "".join(cell["source"]).splitlines()[-1])]
    assert len(checks) == 6
    cells = notebook["cells"]
    for cell in checks:   # the folded solution comes right after its exercise
        after = cells[cells.index(cell) + 1]
        assert after["cell_type"] == "markdown"
        assert re.match(r"<details><summary>Solution \d+</summary>", "".join(after["source"]))


def folded_solutions(notebook):
    """The Python code of each folded solution in the notebook's markdown, by number."""
    prose = "".join("".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "markdown")
    return {int(number): code for number, code in
            re.findall(r"<summary>Solution (\d+)</summary>\s*```python\n(.*?)```", prose, flags=re.DOTALL)}


def test_folded_solutions_pass_their_checks(notebook, capsys):
    """Each solution, run as a learner would paste it, prints "Correct!" from its check."""
    import numpy as np
    from sklearn.cluster import KMeans

    import exercises
    from colorquant import compress_image, png_bytes, psnr

    solutions = folded_solutions(notebook)
    assert sorted(solutions) == [1, 2, 3, 4, 5, 6]
    rng = np.random.default_rng(0)
    namespace = {"np": np, "KMeans": KMeans, "compress_image": compress_image, "psnr": psnr,
                 "png_bytes": png_bytes, "SEED": 0,
                 "X": rng.integers(0, 256, size=(20_000, 3), dtype=np.uint8), **vars(exercises)}
    calls = {1: "check_assign_points(assign_points)", 2: "check_update_centers(update_centers)",
             3: "check_kmeans(kmeans)", 4: "check_fit_sample_predict(fit_sample_predict, X, seed=SEED)",
             5: "check_smallest_k(smallest_k)", 6: "check_largest_k_within(largest_k_within)"}
    for number, code in sorted(solutions.items()):
        exec(code + calls[number], namespace)  # noqa: S102 - the notebook's solution, as a learner runs it
        assert capsys.readouterr().out.startswith("Correct!"), f"solution {number}"
