"""The whole test suite's wall time against the notebook's nbval run alone (issue 14: at most 3x).

Runs, one after the other and interleaved, `python -m pytest` (what `make test` runs after the lint:
pytest.ini's addopts, the notebook, the doctests and tests/), `python -m pytest color_compression.ipynb`
(nbval on the notebook alone) and the whole suite in one process (`-n 0`, without pytest-xdist's
workers), each in a fresh process, and prints the times, their medians and the ratios. A
measurement, not a test: on a shared machine the times vary from run to run, so compare the
interleaved rounds. Usage, from the repository root with a ready .venv:

    python -m benchmarks.test_suite_time [ROUNDS]        (default: 2 rounds)
"""
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# pytest.ini runs two pytest-xdist workers (-n 2); "one process" (-n 0) shows what they save.
COMMANDS = {"whole suite": [], "notebook alone": ["color_compression.ipynb"], "one process": ["-n", "0"]}
RUNS = {name: [] for name in COMMANDS}


def timed(args):
    """Wall time of one pytest run in a fresh process; fails loudly when the tests fail."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", *args], cwd=ROOT, capture_output=True,
                          text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"pytest {' '.join(args)} failed:\n{done.stdout[-3000:]}")
    return elapsed, done.stdout.strip().splitlines()[-1]


def main(rounds=2):
    for number in range(1, rounds + 1):
        for name, args in COMMANDS.items():
            elapsed, summary = timed(args)
            RUNS[name].append(elapsed)
            print(f"round {number}: {name:<15} {elapsed:6.1f} s   ({summary})", flush=True)
    medians = {name: statistics.median(times) for name, times in RUNS.items()}
    for name, median in medians.items():
        print(f"{name:<15} median {median:6.1f} s  ({', '.join(f'{t:.1f}' for t in RUNS[name])})")
    for name in ("whole suite", "one process"):
        ratio = medians[name] / medians["notebook alone"]
        print(f"{name} / notebook alone: {ratio:.2f}x (goal for the whole suite: at most 3x)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
