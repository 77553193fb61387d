"""Shared fixtures: the notebook as JSON."""
import json

import pytest

from nbfile import NOTEBOOK


@pytest.fixture(scope="session")
def notebook():
    """The stored notebook, parsed as JSON."""
    return json.loads(NOTEBOOK.read_text(encoding="utf-8"))
