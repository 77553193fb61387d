# Two commands on a fresh machine: `make run` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
READY := $(VENV)/.requirements-installed
NOTEBOOK := color_compression.ipynb
EXECUTE := --execute --ExecutePreprocessor.timeout=600 --ExecutePreprocessor.record_timing=False
# The learner's working copy, which `make lab` opens: JupyterLab autosaves there (git ignores it), so the
# tracked notebook keeps the outputs of one Restart & Run All and `make test` keeps passing.
WORK_COPY := my_color_compression.ipynb
# JupyterLab refuses to run as root without --allow-root (containers, some classrooms).
ALLOW_ROOT := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root)
# The lock's tool, in a virtual environment of its own (not the project's): uv, at an exact version.
UV_VERSION := 0.13.9
TOOLS := build/tools

.PHONY: run test lint lock refresh lab bench suite-time readme-image clean

# (Re)install when the virtual environment is missing or requirements.txt or pyproject.toml changed: the lock,
# then colorquant itself, editable (`import colorquant` and the `colorquant` command run the package colorquant/ as it is
# in the work tree), built with the lock's setuptools: no download, no build isolation, no other dependency.
$(READY): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed; set PYTHON=python3.X")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

# Execute the notebook in a fresh kernel; write build/color_compression.html and the compressed PNGs. The classic
# template writes each figure's description (its output's "alt" metadata) as the image's alternative text.
run: $(READY)
	mkdir -p build
	$(BIN)/jupyter nbconvert --to html --template classic $(EXECUTE) --output-dir build $(NOTEBOOK)
	@echo "Wrote build/color_compression.html and the compressed images in build/"

# Lint first; then nbval re-executes the notebook against its stored outputs, and the tests in tests/ run.
test: lint
	$(BIN)/python -m pytest

# ruff (configured in ruff.toml) on the .py files and the notebook.
lint: $(READY)
	$(BIN)/ruff check .

# Regenerate requirements.txt, the full lock, from requirements.in: one universal lock for Python 3.11 to 3.13.
lock:
	test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(TOOLS)/bin/uv pip compile --quiet --universal --python-version 3.11 --custom-compile-command "make lock" \
		requirements.in -o requirements.txt

# Re-execute the notebook in place (Restart & Run All) to refresh its stored outputs.
refresh: $(READY)
	$(BIN)/jupyter nbconvert --to notebook $(EXECUTE) --inplace $(NOTEBOOK)

# Open the learner's working copy in JupyterLab, made from the notebook the first time (never overwritten: delete
# it to start afresh). Your typed solutions and outputs stay there; the tracked notebook is not touched.
lab: $(READY)
	test -f $(WORK_COPY) || cp $(NOTEBOOK) $(WORK_COPY)
	$(BIN)/jupyter lab $(ALLOW_ROOT) $(WORK_COPY)

# Speed, memory and quality figures (not a test); uses pngquant when it is installed.
bench: $(READY)
	$(BIN)/python -m benchmarks.compress_benchmark
	$(BIN)/python -m benchmarks.png_size
	$(BIN)/python -m benchmarks.notebook_runtime
	$(BIN)/python -m benchmarks.notebook_own_photo

# The whole test suite's time against the notebook's nbval run alone (issue 14: at most 3x).
suite-time: $(READY)
	$(BIN)/python -m benchmarks.test_suite_time

# Regenerate images/tulips_k16.png, the result shown in README.md (credit kept in the PNG's metadata).
readme-image: $(READY)
	$(BIN)/python -c 'from pathlib import Path; from colorquant import compress_image, png_bytes; \
	credit = {"Title": "Tulips by Dan Kamminga, reduced to 16 colours by compress_image (a changed version)", \
	"Copyright": "CC BY 2.0, https://creativecommons.org/licenses/by/2.0/", \
	"Source": "https://www.flickr.com/photos/dankamminga/11746080/"}; \
	Path("images/tulips_k16.png").write_bytes(png_bytes(compress_image("images/tulips.jpg", 16), text=credit))'

clean:
	rm -rf build colorquant.egg-info
