"""``python -m colorquant``: the command line, run as the installed command runs it."""
from ._console import run

run()
