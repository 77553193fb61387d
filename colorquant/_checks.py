"""Checks of the public functions' arguments: the number of colours and the seed."""
import numbers

_MAX_COLORS = 256          # a PNG palette holds at most 256 colours
_MAX_SEED = 2**32 - 1      # the largest seed NumPy and scikit-learn accept


def _check_int(value, name, low, high, allowed):
    """Return value as an int if it is an integer (not a bool) from low to high.

    Raises TypeError for another type and ValueError out of range; the message says what is allowed.
    """
    message = f"{name} must be {allowed}, got {value!r}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(message)
    if not low <= value <= high:
        raise ValueError(message)
    return int(value)


def _check_n_colors(n_colors):
    """Return n_colors if it is an int from 1 to 256, else raise TypeError or ValueError."""
    return _check_int(n_colors, "n_colors", 1, _MAX_COLORS, f"an int from 1 to {_MAX_COLORS}")


def _check_seed(seed):
    """Return seed if it is None or an int from 0 to 2**32 - 1, else raise TypeError or ValueError."""
    if seed is None:
        return None
    return _check_int(seed, "seed", 0, _MAX_SEED, "an int from 0 to 2**32 - 1 or None")
