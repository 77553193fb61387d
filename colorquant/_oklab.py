"""sRGB (8 bits) to Oklab and back, and the Oklab points that K-means fits (in the 0..255 box).

Oklab is Björn Ottosson's perceptual colour space (2020, https://bottosson.github.io/posts/oklab/):
linear sRGB -> LMS cone responses (matrix M1) -> cube root -> L, a, b (matrix M2). The matrices are the
ones of his post, for linear sRGB with the D65 white point.
"""
import numpy as np

# Linear sRGB to LMS (Ottosson's M1 with the sRGB matrix folded in) and LMS' (cube roots) to Lab (M2).
_RGB_TO_LMS = np.array([[0.4122214708, 0.5363325363, 0.0514459929],
                        [0.2119034982, 0.6806995451, 0.1073969566],
                        [0.0883024619, 0.2817188376, 0.6299787005]])
_LMS_TO_LAB = np.array([[0.2104542553, 0.7936177850, -0.0040720468],
                        [1.9779984951, -2.4285922050, 0.4505937099],
                        [0.0259040371, 0.7827717662, -0.8086757660]])
_LAB_TO_LMS = np.array([[1.0, 0.3963377774, 0.2158037573],
                        [1.0, -0.1055613458, -0.0638541728],
                        [1.0, -0.0894841775, -1.2914855480]])
_LMS_TO_RGB = np.array([[4.0767416621, -3.3077115913, 0.2309699292],
                        [-1.2684380046, 2.6097574011, -0.3413193965],
                        [-0.0041960863, -0.7034186147, 1.7076147010]])

# The K-means points: Oklab with its a and b axes doubled (Ottosson's ΔEOK2: a scale of slightly more than 2
# for a and b fits data sets of perceived colour differences best, w3c/csswg-drafts issue 6642; on the sample
# photos it lowered the mean CIEDE2000 of the palettes by 4 to 16 % against plain Oklab, and raised their
# PSNR), shifted and scaled as one into K-means' 0..255 box (its grid histograms, _kmeans._color_histogram,
# need values in 0..255): Oklab of every sRGB colour lies within L 0..1, a -0.2339..0.2763,
# b -0.3116..0.1986, so L spans 0..249 and a and b (doubled) 0..255.
_AB_WEIGHT = 2.0
_SCALE = 249.0 * np.array([1.0, _AB_WEIGHT, _AB_WEIGHT])
_OFFSET = np.array([0.0, 0.2340, 0.3116])


def _linear(values):
    """sRGB values in 0..255 (any float or int array) as linear light in 0..1 (the sRGB transfer curve)."""
    c = np.asarray(values, dtype=np.float64) / 255
    return np.where(c <= 0.04045, c / 12.92, ((np.maximum(c, 0.04045) + 0.055) / 1.055) ** 2.4)


def _gamma(linear):
    """Linear light in 0..1 as sRGB values in 0..255 (floats, not rounded; clipped to the range)."""
    c = np.clip(linear, 0, 1)
    return 255 * np.where(c <= 0.0031308, 12.92 * c, 1.055 * np.maximum(c, 0.0031308) ** (1 / 2.4) - 0.055)


_LINEAR_TABLE = _linear(np.arange(256))   # the 256 uint8 values as linear light: a lookup, not a power


def _times(values, matrix):
    """(..., 3) values times a 3 x 3 matrix (each row matrix @ value), elementwise: a BLAS product of a
    tall (N, 3) array mostly waits on threads (20 to 40 ms for 90 000 colours, against 1 ms)."""
    return values[..., 0:1] * matrix[:, 0] + values[..., 1:2] * matrix[:, 1] + values[..., 2:3] * matrix[:, 2]


def srgb_to_oklab(rgb):
    """(..., 3) sRGB colours (uint8, or floats in 0..255) as (..., 3) float64 Oklab (L in 0..1)."""
    rgb = np.asarray(rgb)
    linear = _LINEAR_TABLE[rgb] if rgb.dtype == np.uint8 else _linear(rgb)
    return _times(np.cbrt(_times(linear, _RGB_TO_LMS)), _LMS_TO_LAB)


def oklab_to_srgb(lab):
    """(..., 3) Oklab colours as (..., 3) sRGB floats in 0..255 (out of gamut: clipped; not rounded)."""
    lms = _times(np.asarray(lab, dtype=np.float64), _LAB_TO_LMS) ** 3
    return _gamma(_times(lms, _LMS_TO_RGB))


def _to_points(rgb):
    """The K-means points of (N, 3) sRGB colours: Oklab (a and b doubled) shifted and scaled into 0..255."""
    return (srgb_to_oklab(rgb) + _OFFSET) * _SCALE


def _from_points(points):
    """(N, 3) uint8 sRGB colours of K-means points in the scaled Oklab box (rounded)."""
    rgb = oklab_to_srgb(np.asarray(points, dtype=np.float64) / _SCALE - _OFFSET)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
