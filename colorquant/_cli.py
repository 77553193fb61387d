"""The command line ``colorquant``, modelled on pngquant."""
import argparse
import contextlib
import errno
import io
import math
import os
import secrets
import signal
import sys
import threading
import time
import warnings
from pathlib import Path

from ._checks import _MAX_COLORS, _check_n_colors, _check_seed
from ._palette import SPACES, _check_dither, _read_palette
from ._quantize import _Pixels, _quantize, _quantize_shared
from ._read import _png_text, _read_image
from ._version import __version__

_EXIT_FAILED = 1        # a file could not be done
_EXIT_SKIPPED = 98      # --skip-if-larger wrote nothing for a file (pngquant's code)
_EXIT_QUALITY = 99      # --min-psnr was not reached even with -k colours (pngquant's code)
_STDIO = "-"            # the input that reads stdin and writes the PNG to stdout
_STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")
_TEMPORARY = (".colorquant-", ".tmp")   # a short temporary name: any legal output name still works
_TEMPORARY_ATTEMPTS = 100   # random temporary names tried before giving up, as tempfile.mkstemp does


class _Stopped(BaseException):
    """A signal (SIGINT, SIGTERM, SIGHUP) stopped the run: raised by the handler, caught by main."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


class _NotWritten(Exception):
    """A file done without error but not written: --skip-if-larger, or --min-psnr not reached."""

    def __init__(self, message, status):
        super().__init__(message)
        self.status = status


def _display(path):
    """A file name as printable text: bytes that are not valid in the file system's encoding as \\xNN."""
    text = os.fspath(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:   # surrogates: bytes of a name that is not UTF-8
        return os.fsencode(text).decode("utf-8", "backslashreplace")
    return text


def _say(stream, text):
    """Print one line on stream, escaping what its encoding cannot show, whatever the locale."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    print(text.encode(encoding, "backslashreplace").decode(encoding, "replace"), file=stream, flush=True)


def _publish(temporary, target, force):
    """Give the finished temporary file its name; without force, never replace a file that exists."""
    if force:
        os.replace(temporary, target)
        return
    try:
        try:
            os.link(temporary, target)   # fails if target exists, even if it appeared a moment ago
        except FileExistsError:
            raise
        except OSError:                  # a file system without hard links: an exclusive create instead
            with open(temporary, "rb") as data, open(target, "xb") as out:
                try:
                    out.write(data.read())
                except BaseException:
                    out.close()
                    os.unlink(target)
                    raise
    except FileExistsError:
        raise FileExistsError(f"output {_display(target)!r} appeared while it was being written; "
                              "it was kept (use --force to overwrite it)") from None
    os.unlink(temporary)


def _create_temporary(folder):
    """A new temporary file in folder, opened for writing: (descriptor, path).

    Created with mode 0o666, which the system narrows by the umask, as for any new file (mkstemp's files
    are 0o600); the umask is never read nor changed, so a threaded program calling main sees no change.
    """
    prefix, suffix = _TEMPORARY
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(_TEMPORARY_ATTEMPTS):
        path = os.path.join(folder, f"{prefix}{secrets.token_hex(4)}{suffix}")
        try:
            return os.open(path, flags, 0o666), path
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, f"no free temporary file name in {_display(folder)!r}")


def _write_png(data, target, force):
    """Write the PNG bytes at target through a temporary file in the same folder: never a half-written PNG.

    The folder is created when missing (--out-dir). Errors name the output, not the temporary file.
    """
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = _create_temporary(target.parent)
    except OSError as error:
        raise OSError(f"cannot write output {_display(target)!r}: {error.strerror or error}") from error
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        _publish(temporary, target, force)
    except FileExistsError:
        Path(temporary).unlink(missing_ok=True)
        raise
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise OSError(f"cannot write output {_display(target)!r}: {error.strerror or error}") from error
    except BaseException:                        # a signal (_Stopped) or anything else: no file left
        Path(temporary).unlink(missing_ok=True)
        raise


def _output_path(source, args, n_colors):
    """Where the output of this input goes: -o, or <stem>_k<N>.png in --out-dir or beside the input."""
    if args.output is not None:
        return Path(args.output)
    source = Path(source)
    folder = Path(args.out_dir) if args.out_dir is not None else source.parent
    return folder / f"{source.stem}_k{n_colors}.png"


def _resolved(path):
    """A path's canonical form: absolute, links followed, case folded where the file system ignores case."""
    return os.path.normcase(os.path.realpath(path))


class _Inputs:
    """The files of a run, gathered once, so that telling whether an output is one of them costs the same
    in a batch of thousands as in a batch of one: by file identity (device and inode, which also sees
    hard links) and by canonical path (for a file that does not exist yet)."""

    def __init__(self, files):
        self.identities, self.paths = set(), set()
        for file in files:
            self.paths.add(_resolved(file))
            try:
                status = os.stat(file)
            except OSError:
                continue
            self.identities.add((status.st_dev, status.st_ino))

    def __contains__(self, path):
        try:
            status = os.stat(path)
        except OSError:
            status = None
        if status is not None and (status.st_dev, status.st_ino) in self.identities:
            return True
        return _resolved(path) in self.paths


def _check_target(target, args, inputs):
    """Refuse an output that is an input (inputs: an _Inputs), or that exists without --force."""
    if target in inputs:
        raise OSError(f"output {_display(target)!r} is an input file; inputs are never written to")
    try:
        exists = target.exists() or target.is_symlink()
    except OSError as error:       # such as a name too long for the file system
        raise OSError(f"cannot write output {_display(target)!r}: {error.strerror or error}") from error
    if exists and not args.force:
        raise FileExistsError(f"output {_display(target)!r} exists; use --force to overwrite it")


def _fewest_colors(pixels, args):
    """The smallest k up to -k whose result reaches --min-psnr: (k, result, PSNR), the result a _Quantized.

    k doubles from 1 until it reaches the target (or -k), then bisection between the last k that fell
    short and the first that reached it. The search keeps a k that reaches the target and a k - 1 that
    does not (k = 1 needs no k - 1), so the chosen k always has that property; that it is the smallest
    such k rests on PSNR rising with k, which holds in practice but is not guaranteed. The doubling
    keeps the costly large k out of the search when a small one suffices. The image's colours are
    counted once, for every k. Raises _NotWritten when even -k falls short.
    """
    def attempt(n_colors):
        result = _quantize(pixels, n_colors, args.seed, args.dither, args.space)
        return result, result.psnr(pixels)

    low, high = 0, 1                 # low stands for a k that does not reach the target
    while True:
        best, quality = attempt(high)
        if quality >= args.min_psnr:
            break
        if high == args.colors:
            raise _NotWritten(f"even -k {high} gives PSNR {quality:.2f} dB, below --min-psnr "
                              f"{args.min_psnr:g} dB; nothing written", _EXIT_QUALITY)
        low, high = high, min(2 * high, args.colors)
    while high - low > 1:
        middle = (low + high) // 2
        result, middle_quality = attempt(middle)
        if middle_quality >= args.min_psnr:
            high, best, quality = middle, result, middle_quality
        else:
            low = middle
    return high, best, quality


def _compress_file(file, args, inputs):
    """Compress one input into its output; return the report line (without its [i/n] prefix)."""
    start = time.perf_counter()
    stdio = file == _STDIO
    if stdio:
        data = sys.stdin.buffer.read()
        source, size, target = io.BytesIO(data), len(data), None
        source.name = "stdin"   # for messages: "cannot read image file 'stdin'"
    else:
        source = Path(file)
        if args.min_psnr is None:
            target = _output_path(file, args, args.colors)
            _check_target(target, args, inputs)
    image, name = _read_image(source)          # each input is read once; the flow goes on from its pixels
    text = {} if args.strip else _png_text(image)   # a PNG's title, author, copyright... travel with it
    pixels = _Pixels.of(image, name)
    del image
    if args.min_psnr is None:
        n_colors = args.colors
        result = _quantize(pixels, n_colors, args.seed, args.dither, args.space, args.palette)
        quality = result.psnr(pixels)
    else:
        n_colors, result, quality = _fewest_colors(pixels, args)
        if not stdio:
            target = _output_path(file, args, n_colors)
            _check_target(target, args, inputs)
    scores = _verbose_scores(result, pixels, args)
    del pixels
    png = result.png(text=text)
    if not stdio:
        size = os.stat(source).st_size
    if args.skip_if_larger and len(png) > size:
        raise _NotWritten(f"skipped: the PNG would be {len(png)} bytes, larger than the input's {size}; "
                          "nothing written", _EXIT_SKIPPED)
    if stdio:
        sys.stdout.flush()
        sys.stdout.buffer.write(png)
        sys.stdout.buffer.flush()
    else:
        _write_png(png, target, args.force)
    chosen = f"k {n_colors}, " if args.min_psnr is not None else ""
    return (f"{'(stdout)' if stdio else _display(target)}: {chosen}{result.color_count()} colours, "
            f"{len(png) / 1000:.1f} kB, PSNR {quality:.2f} dB{scores}, {time.perf_counter() - start:.2f} s")


def _verbose_scores(result, pixels, args):
    """With --verbose, the mean CIEDE2000 difference for the report line (', ΔE2000 4.27'); else ''.

    Undithered it is exact (on the distinct colours); dithered, on a fixed sample of at most 2**20
    pixels, and the line says so when the image has more.
    """
    if not args.verbose:
        return ""
    difference, sampled = result.delta_e(pixels)
    return f", ΔE2000 {difference:.2f}" + (" (on a sample of 2**20 pixels)" if sampled else "")


@contextlib.contextmanager
def _notes(prefix):
    """Collect the warnings raised while one file is done; then print each different one once to stderr,
    as '<prefix>: note: <message>' (not Python's warning lines). Deprecations are left out: they are for
    developers, not for a user of the command."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
            warnings.simplefilter("ignore", category)
        try:
            yield
        finally:
            for note in dict.fromkeys(str(warning.message) for warning in caught):
                _say(sys.stderr, f"{prefix}: note: {note}")


def _run_shared(args):
    """--shared: read every input, fit one palette to all, write each with it; return the exit status.

    The palette depends on every input, so when one cannot be read (or its output cannot be written
    because it exists or is an input), nothing is written and the status is 1.
    """
    inputs = _Inputs(args.files)
    total = len(args.files)
    all_pixels, texts, targets, failed = [], [], [], False
    start = time.perf_counter()
    for number, file in enumerate(args.files, 1):
        prefix = f"[{number}/{total}] {_display(file)}"
        with _notes(prefix):
            try:
                target = _output_path(file, args, args.colors)
                _check_target(target, args, inputs)
                image, name = _read_image(Path(file))
                texts.append({} if args.strip else _png_text(image))
                all_pixels.append(_Pixels.of(image, name))
                targets.append(target)
                del image
            except Exception as error:  # noqa: BLE001 - reported; then nothing is written
                failed = True
                _say(sys.stderr, f"{prefix}: error: {type(error).__name__}: {error}")
    if failed:
        _say(sys.stderr, "colorquant: --shared: nothing written; the shared palette needs every input")
        return _EXIT_FAILED
    results = _quantize_shared(all_pixels, args.colors, args.seed, args.dither, args.space)
    seconds = (time.perf_counter() - start) / total
    statuses = []
    for number, (file, pixels, result, text, target) in enumerate(
            zip(args.files, all_pixels, results, texts, targets, strict=True), 1):
        prefix = f"[{number}/{total}] {_display(file)}"
        png = result.png(text=text)
        if args.skip_if_larger and len(png) > os.stat(file).st_size:
            _say(sys.stderr, f"{prefix}: skipped: the PNG would be {len(png)} bytes, larger than the input's "
                             f"{os.stat(file).st_size}; nothing written")
            statuses.append(_EXIT_SKIPPED)
            continue
        try:
            _write_png(png, target, args.force)
        except OSError as error:
            _say(sys.stderr, f"{prefix}: error: {type(error).__name__}: {error}")
            statuses.append(_EXIT_FAILED)
            continue
        _say(sys.stdout, f"[{number}/{total}] {_display(target)}: {result.color_count()} colours "
                         f"(shared palette of {len(result.palette)}), {len(png) / 1000:.1f} kB, PSNR "
                         f"{result.psnr(pixels):.2f} dB{_verbose_scores(result, pixels, args)}, "
                         f"{seconds:.2f} s")
        statuses.append(0)
    for status in (_EXIT_FAILED, _EXIT_SKIPPED):
        if status in statuses:
            return status
    return 0


def _int_in_range(low, high, check):
    """An argparse type: an int that check() accepts, else a usage error."""
    def parse(text):
        try:
            return check(int(text))
        except (TypeError, ValueError) as error:
            raise argparse.ArgumentTypeError(f"must be an int from {low} to {high}, got {text!r}") from error
    return parse


def _decibels(text):
    """An argparse type: a PSNR target in dB, a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a number of dB above 0, got {text!r}")
    return value


def _strength(text):
    """An argparse type: a dithering level, a number from 0 to 1."""
    try:
        return _check_dither(float(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 1, got {text!r}") from error


def _dither_alone(argv):
    """The arguments with --dither alone (no =LEVEL) as --dither=1, up to a '--': so that the word after
    it stays a file (``colorquant --dither *.jpg``), as pngquant's --floyd and --floyd=0.5."""
    end = argv.index("--") if "--" in argv else len(argv)
    return ["--dither=1" if argument == "--dither" else argument for argument in argv[:end]] + argv[end:]


def _output_key(file, args):
    """What two inputs must not share: their output, or with --min-psnr (k unknown) its folder and stem."""
    target = _output_path(file, args, "<N>" if args.min_psnr is not None else args.colors)
    return _resolved(target), target


def _check_inputs(parser, args):
    """Usage errors found before any work: -, -o, and two inputs that would write one output."""
    files = args.files
    if _STDIO in files:
        if len(files) > 1:
            parser.error(f"- (stdin to stdout) must be the only input; got {len(files)} inputs")
        if args.output is not None or args.out_dir is not None:
            parser.error("- writes the PNG to stdout: -o and --out-dir are not allowed with it")
        return
    if args.output is not None:
        if len(files) > 1:
            parser.error(f"-o names the output of a single input; got {len(files)} inputs (use --out-dir)")
        output = args.output
        slash = output.endswith(("/", os.sep)) or (os.altsep and output.endswith(os.altsep))
        if slash or Path(output).is_dir():
            parser.error(f"-o names a file, got the folder {_display(output)!r} (use --out-dir for a folder)")
        folder = Path(output).parent
        if not folder.is_dir():
            parser.error(f"-o: the folder {_display(folder)!r} does not exist (-o creates no folder; "
                         "--out-dir does)")
    seen = {}
    for file in files:
        key, target = _output_key(file, args)
        if key in seen:
            parser.error(f"inputs {_display(seen[key])!r} and {_display(file)!r} would both write "
                         f"{_display(target)!r}; compress them in separate runs or rename one")
        seen[key] = file


def _parse_args(argv):
    """The command line's arguments; usage errors exit with status 2."""
    parser = argparse.ArgumentParser(
        prog="colorquant",
        description="Reduce photos to at most N colours with K-means; write indexed PNGs named "
                    "<stem>_k<N>.png beside each input (or in --out-dir). Inputs are never written to.",
        epilog="exit status: 0 all done; 1 a file failed; 2 usage error; 98 --skip-if-larger skipped a "
               "file (none failed); 99 --min-psnr not reached for a file (none failed); 128+N stopped by "
               "signal N.")
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="image files to compress; - alone reads stdin and writes the PNG to stdout")
    parser.add_argument("-k", "--colors", type=_int_in_range(1, _MAX_COLORS, _check_n_colors), default=None,
                        metavar="N", help="number of colours, 1 to 256 (default: 16); with --min-psnr, the "
                                          "most it may use (default: 256)")
    parser.add_argument("--min-psnr", type=_decibels, metavar="DB",
                        help="use the fewest colours whose PSNR reaches DB (output named by that k); "
                             "exit 99 and write nothing when even -k colours fall short")
    parser.add_argument("--skip-if-larger", action="store_true",
                        help="write nothing when the PNG would be larger than the input file (exit 98)")
    parser.add_argument("--seed", type=_int_in_range(0, "2**32 - 1", _check_seed), default=0, metavar="S",
                        help="random seed, 0 to 2**32 - 1 (default: 0): the same seed gives the same file")
    parser.add_argument("--dither", type=_strength, default=0.0, metavar="[=LEVEL]",
                        help="Floyd-Steinberg dithering onto the palette; --dither=LEVEL sets its strength "
                             "from 0 (none) to 1 (full, what --dither alone means), as pngquant's --floyd")
    parser.add_argument("--space", choices=SPACES, default="rgb",
                        help="where the palette is fitted and colours are matched: rgb (default: the best "
                             "PSNR) or oklab (perceptual: the lowest colour difference, ΔE2000)")
    parser.add_argument("--shared", action="store_true",
                        help="one palette for all the inputs (animation frames, sprites), fitted to all "
                             "their pixels; each output has the full palette in the same order")
    parser.add_argument("--palette", metavar="FILE",
                        help="map onto the colours of this image instead of fitting: a palette (P) image's "
                             "palette in its order, otherwise its distinct colours (at most 256)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also report the mean CIEDE2000 colour difference (ΔE2000) beside PSNR")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("-o", "--output", metavar="OUT",
                       help="output file (one input only; its folder must exist)")
    where.add_argument("--out-dir", metavar="DIR", help="write the outputs in DIR (created when missing)")
    parser.add_argument("--force", action="store_true", help="overwrite existing outputs")
    parser.add_argument("--strip", action="store_true",
                        help="leave out a PNG input's text chunks (title, author, copyright...), which are "
                             "kept by default; the colour profile is always kept")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    args = parser.parse_args(_dither_alone(sys.argv[1:] if argv is None else list(argv)))
    _check_palette_options(parser, args)
    if args.colors is None:
        args.colors = _MAX_COLORS if args.min_psnr is not None else 16
    _check_inputs(parser, args)
    return args


def _check_palette_options(parser, args):
    """Usage errors of --shared and --palette; --palette's file read (its size becomes -k, for the name)."""
    if args.shared:
        clashes = (("-o", args.output is not None), ("- (stdin)", _STDIO in args.files),
                   ("--min-psnr", args.min_psnr is not None), ("--palette", args.palette is not None))
        for clash, given in clashes:
            if given:
                parser.error(f"--shared cannot be used with {clash}: it writes one output per input "
                             "with one palette fitted to all")
    if args.palette is not None:
        for clash, given in (("--min-psnr", args.min_psnr is not None), ("-k", args.colors is not None)):
            if given:
                parser.error(f"--palette gives the colours: {clash} cannot be used with it")
        try:
            args.palette = _read_palette(args.palette, name=f"palette file {_display(args.palette)!r}")
        except (OSError, ValueError) as error:
            parser.error(f"--palette: {error}")
        args.colors = len(args.palette)


class _StopOnSignals:
    """While active (in the main thread), SIGINT, SIGTERM and SIGHUP raise _Stopped; restored on exit."""

    def __enter__(self):
        self.previous = {}
        if threading.current_thread() is threading.main_thread():
            for name in _STOP_SIGNALS:
                number = getattr(signal, name, None)
                if number is not None:
                    self.previous[number] = signal.signal(number, self.stop)
        return self

    def stop(self, signum, frame):
        for number in self.previous:   # a second signal must not stop the clean-up
            signal.signal(number, signal.SIG_IGN)
        raise _Stopped(signum)

    def __exit__(self, *exc):
        for number, handler in self.previous.items():
            signal.signal(number, signal.SIG_DFL if handler is None else handler)
        return False


def _quiet_stdout():
    """After a closed pipe: send what is left for stdout to /dev/null, so that the exit prints nothing."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):   # stdout is not a file (a test's capture)
        pass


def _run(args):
    """Compress every input: one line per file; return the exit status."""
    stdio = args.files == [_STDIO]
    report = sys.stderr if stdio else sys.stdout
    inputs = _Inputs([] if stdio else args.files)
    statuses = []
    for number, file in enumerate(args.files, 1):
        prefix = f"[{number}/{len(args.files)}] {_display(file)}"
        with _notes(prefix):
            try:
                line = _compress_file(file, args, inputs)
            except BrokenPipeError:      # stdout closed: not this file's fault; main ends the run quietly
                raise
            except _NotWritten as not_written:
                line, status = None, not_written.status
                message = f"{prefix}: {not_written}"
            except Exception as error:  # noqa: BLE001 - any failure ends this file only, never the batch
                line, status = None, _EXIT_FAILED
                message = f"{prefix}: error: {type(error).__name__}: {error}"
            else:
                status = 0
        if line is None:
            _say(sys.stderr, message)
        else:
            _say(report, f"[{number}/{len(args.files)}] {line}")
        statuses.append(status)
    for status in (_EXIT_FAILED, _EXIT_QUALITY, _EXIT_SKIPPED):
        if status in statuses:
            return status
    return 0


def main(argv=None):
    """Run the command line ``colorquant`` and return its exit status.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default: ``sys.argv[1:]``); ``colorquant --help`` lists them.

    Returns
    -------
    int
        0 when every file was done; 1 when a file failed; 2 for a usage error; 98 when
        --skip-if-larger skipped a file and none failed; 99 when a file fell short of --min-psnr and
        none failed (99 outranks 98); 128 + N when signal N (SIGINT, SIGTERM, SIGHUP) stopped the run,
        after removing the temporary file; 141 when stdout was closed (``| head -1``).
    """
    try:
        args = _parse_args(argv)
    except SystemExit as stop:   # argparse: --help (0) or a usage error (2)
        return stop.code
    try:
        with _StopOnSignals():
            return _run_shared(args) if args.shared else _run(args)
    except _Stopped as stopped:
        _say(sys.stderr, f"colorquant: stopped by {signal.Signals(stopped.signum).name}; "
                         "no temporary file left behind")
        return 128 + stopped.signum
    except BrokenPipeError:          # the reader went away (| head -1): end quietly
        _quiet_stdout()
        return 128 + getattr(signal, "SIGPIPE", 13)
