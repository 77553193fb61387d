"""The ``colorquant`` command's entry point (``[project.scripts]`` and ``python -m colorquant``).

`run` prepares the process for the command line alone, which a library must not do to its host program,
then runs `colorquant._cli.main`. What it does pays for a process that quantizes one photo and ends:

- the BLAS and OpenMP thread pools get one thread, unless the user set their size: the command's matrix
  products are small (K-means runs in one thread anyway), and a pool's threads cost their start;
- when numba is first imported (by a fit large enough for the compiled kernels), it is kept from
  importing optional packages the command never uses, when they are installed and not imported already:
  SciPy (numba's linear algebra), coverage (its coverage plug-in) and cffi (calling C functions), which
  took most of the time of the first call of a compiled kernel, and PyYAML, which numba needs only to
  read a ``.numba_config.yaml`` in the current folder (kept when there is one). Nothing is kept out
  where a numba extension is installed (an entry point in the group ``numba_extensions``): it may need them;
- the process ends at once when main returns: its output flushed and the ``atexit`` functions run, but
  without Python's teardown of every module and object (about 0.1 s once numba is loaded: 100k objects).
"""
import atexit
import os
import sys

_ONE_THREAD = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
_NOT_NEEDED = ("scipy", "coverage", "cffi")
_NUMBA_CONFIG = ".numba_config.yaml"   # numba's configuration file, read with PyYAML from the current folder


class _BeforeNumba:
    """An import hook that acts once, when numba is first imported. It stays in sys.meta_path (removing
    it while the import system walks that list would skip the next finder), finding nothing."""

    done = False

    def find_spec(self, name, path=None, target=None):
        """None: numba is found by the usual finders; but first, its optional imports are kept out."""
        if name == "numba" and not self.done:
            self.done = True
            _keep_out_of_numba()


def _keep_out_of_numba():
    """Make numba's optional imports that the command does not use fail, as if they were not installed."""
    from importlib.metadata import entry_points  # numba imports it anyway, to find its extensions

    if entry_points(group="numba_extensions"):
        return
    for name in _NOT_NEEDED + (() if os.path.isfile(_NUMBA_CONFIG) else ("yaml",)):
        if name not in sys.modules:
            sys.modules[name] = None   # importing it raises ImportError: numba takes it as not installed


def run():
    """The command line in a process of its own, which it ends with main's exit status."""
    for name in _ONE_THREAD:
        os.environ.setdefault(name, "1")
    if "numba" not in sys.modules:
        sys.meta_path.insert(0, _BeforeNumba())
    from ._cli import main

    status = main()
    atexit._run_exitfuncs()   # what a normal exit runs first (coverage's data file, for one)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):   # a closed pipe or stream: nothing more can be said there
            pass
    os._exit(status if isinstance(status, int) else 0 if status is None else 1)
