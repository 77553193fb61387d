"""Shared fixtures: the notebook as JSON, and the code of its cells tagged `helpers` as a module."""
import json

import pytest

from notebook_code import NOTEBOOK, load_tagged_code


@pytest.fixture(scope="session")
def notebook():
    """The stored notebook, parsed as JSON."""
    return json.loads(NOTEBOOK.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def helpers():
    """The cells tagged `helpers`, run alone in a fresh module, as a user would copy them."""
    return load_tagged_code("helpers")
