"""The command's entry point (colorquant._console.run) and the package's lazy public names.

`import colorquant` loads no NumPy, Pillow or numba; each public name is imported when first used, and
numba only when a fit needs the compiled kernels. run(), the installed command's entry point, gives the
same files as compress_image and png_bytes, on a file and on stdin, keeps what the user set, keeps
numba's optional imports out unless a numba extension is installed, and ends the process with main's
status after the atexit functions.
Both are checked in fresh processes (two subprocesses, run side by side), as a user meets them.
"""
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

import colorquant
from colorquant import compress_image, png_bytes
from pictures import photo_like

IMPORTS = """
import json, sys
found = {}
import colorquant
found["import"] = sorted(name for name in ("numpy", "PIL", "numba") if name in sys.modules)
found["dir"] = sorted(set(colorquant.__all__) - set(dir(colorquant)))
from colorquant import compress_image
import numpy as np
rng = np.random.default_rng(0)
compress_image(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8), 4)     # a small fit: NumPy alone
found["small fit"] = "numba" in sys.modules
compress_image(rng.integers(0, 256, (128, 128, 3), dtype=np.uint8), 256)  # 16k colours x 256: compiled
found["large fit"] = "numba" in sys.modules
print(json.dumps(found))
"""

RUN = """
import atexit, json, os, sys
from colorquant._console import run
atexit.register(lambda: print(json.dumps({"threads": os.environ.get("OPENBLAS_NUM_THREADS"),
                                          "scipy": sys.modules.get("scipy") is not None}), file=sys.stderr))
run()
print("run() returned", file=sys.stderr)   # it must not: it ends the process with main's status
"""


def _numba_extension(folder):
    """A folder holding a module and its distribution's metadata that declares a numba extension."""
    folder.mkdir()
    (folder / "fakeext.py").write_text("def init():\n    pass\n")
    metadata = folder / "fakeext-1.0.dist-info"
    metadata.mkdir()
    (metadata / "METADATA").write_text("Metadata-Version: 2.1\nName: fakeext\nVersion: 1.0\n")
    (metadata / "entry_points.txt").write_text("[numba_extensions]\ninit = fakeext:init\n")
    return folder


def _env(**extra):
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "OPENBLAS_NUM_THREADS")}
    return env | extra


def test_public_names_are_listed_and_imported_on_use():
    assert set(colorquant.__all__) <= set(dir(colorquant))
    names = {name: getattr(colorquant, name) for name in colorquant.__all__}   # as `import *` takes them
    assert all(callable(value) for value in names.values())
    assert names["compress_image"] is compress_image
    assert colorquant.__version__
    try:
        colorquant.no_such_name  # noqa: B018
    except AttributeError as error:
        assert "no_such_name" in str(error)
    else:
        raise AssertionError("an unknown name must be an AttributeError")


def test_import_then_fits_in_a_fresh_process_and_run_on_a_file_and_stdin(tmp_path):
    Image.fromarray(photo_like(96, 64)).save(tmp_path / "photo.png")
    noise = np.random.default_rng(1).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "noise.png")      # 16k colours: k = 256 loads numba
    started = {
        "imports": subprocess.Popen([sys.executable, "-c", IMPORTS], cwd=tmp_path, env=_env(),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE),
        # a file, with the user's own BLAS thread count, which run keeps
        "file": subprocess.Popen([sys.executable, "-c", RUN, "-k", "256", "noise.png"], cwd=tmp_path,
                                 env=_env(OPENBLAS_NUM_THREADS="2"), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE),
        # the same with a numba extension installed: numba's optional imports are then left alone
        "extension": subprocess.Popen(
            [sys.executable, "-c", RUN, "-k", "256", "--out-dir", "out", "noise.png"], cwd=tmp_path,
            env=_env(PYTHONPATH=str(_numba_extension(tmp_path / "ext"))), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE),
        "stdin": subprocess.Popen([sys.executable, "-c", RUN, "-k", "8", "-"], cwd=tmp_path, env=_env(),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE),
    }
    done = {"stdin": started["stdin"].communicate((tmp_path / "photo.png").read_bytes(), 120)}
    done |= {name: started[name].communicate(timeout=120) for name in ("imports", "file", "extension")}
    for name, process in started.items():
        assert process.returncode == 0, (name, done[name][1].decode())

    found = json.loads(done["imports"][0])
    assert found == {"import": [], "dir": [], "small fit": False, "large fit": True}

    file_run = json.loads(done["file"][1].decode().strip().splitlines()[-1])
    assert file_run == {"threads": "2", "scipy": False}
    expected = png_bytes(compress_image(tmp_path / "noise.png", 256, seed=0))
    assert (tmp_path / "noise_k256.png").read_bytes() == expected
    assert done["file"][0].decode().startswith("[1/1] noise_k256.png: ")

    extension_run = json.loads(done["extension"][1].decode().strip().splitlines()[-1])
    assert extension_run == {"threads": "1", "scipy": importlib.util.find_spec("scipy") is not None}
    assert b"failed to load" not in done["extension"][1]
    assert (tmp_path / "out" / "noise_k256.png").read_bytes() == expected

    stdin_run = json.loads(done["stdin"][1].decode().strip().splitlines()[-1])
    assert stdin_run == {"threads": "1", "scipy": False}
    assert done["stdin"][0] == png_bytes(compress_image(tmp_path / "photo.png", 8, seed=0))
