"""``python -m colorquant``: the command line, run as the installed command runs it."""
import sys

from ._console import run

sys.exit(run())
