"""Colour codes: one integer per pixel, distinct colours and their counts, premultiplied alpha."""

import numpy as np

_CHUNK = 1 << 22           # values computed per block, so memory stays flat
_FULL_COUNT_PIXELS = 1 << 22   # from this many pixels on, one full histogram pass beats sorting the codes
_CODE_BITS = 24            # one colour code: 8 bits each of red, green and blue
_RGB_MASK = (1 << _CODE_BITS) - 1
_COUNT_PART_BITS = 3       # a big image's colours are counted an eighth of the codes at a time


def _color_codes(rgba):
    """One integer per pixel, without a copy: red + 256 green + 65536 blue, and alpha in the top byte."""
    # 24-bit packing: the 4 bytes of an RGBA pixel read as one little-endian uint32; masking off the alpha
    # byte (& _RGB_MASK, block by block where used) leaves a colour code that sorts, counts and indexes far
    # faster than rows of 3 values.
    return rgba.view("<u4").reshape(-1)


def _count_colors(codes):
    """Distinct 24-bit colour codes (alpha masked off), sorted, and how many pixels have each."""
    if codes.size < _FULL_COUNT_PIXELS:
        return np.unique(codes & _RGB_MASK, return_counts=True)
    # Histograms, one per eighth of the codes (by their top 3 bits: 16 MiB each, not one of 128 MiB), over
    # blocks of pixels (bincount copies its input to 64-bit integers): about 70 MiB besides the result.
    shift = _CODE_BITS - _COUNT_PART_BITS
    step = min(codes.size, _CHUNK // 2)
    block = np.empty(step, dtype=np.uint32)
    distinct, counts = [], []
    for part in range(1 << _COUNT_PART_BITS):
        histogram = np.zeros(1 << shift, dtype=np.int64)
        for start in range(0, codes.size, step):
            masked = np.bitwise_and(codes[start:start + step], _RGB_MASK, out=block[:codes.size - start])
            in_part = masked[(masked >> shift) == part] - (part << shift)
            histogram += np.bincount(in_part, minlength=1 << shift)
        present = np.flatnonzero(histogram)
        distinct.append(present + (part << shift))
        counts.append(histogram[present])
    return np.concatenate(distinct), np.concatenate(counts)


def _decode_colors(codes, alpha=False):
    """The (N, 3) uint8 RGB colours of colour codes, or (N, 4) RGBA with alpha=True (alpha: the top byte)."""
    codes = np.asarray(codes, dtype=np.uint32)
    return np.stack([(codes >> shift) & 255 for shift in (0, 8, 16, 24)[:4 if alpha else 3]],
                    axis=1).astype(np.uint8)


def _weighted_colors(codes):
    """Distinct 24-bit colour codes, their RGB colours and weights (pixel counts, as floats)."""
    distinct, counts = _count_colors(codes)
    return distinct, _decode_colors(distinct), counts.astype(np.float64)


def _premultiply(rgba):
    """Premultiplied RGBA floats of uint8 RGBA rows: colour times alpha / 255, and alpha."""
    rgba = np.asarray(rgba, dtype=np.float64)
    return np.concatenate([rgba[:, :3] * (rgba[:, 3:] / 255), rgba[:, 3:]], axis=1)


def _unpremultiply(points):
    """uint8 RGBA palette entries of premultiplied RGBA centres (rounded; alpha 0 gives (0, 0, 0, 0))."""
    alpha = np.clip(np.rint(points[:, 3]), 0, 255)
    with np.errstate(divide="ignore", invalid="ignore"):
        rgb = np.where(alpha[:, None] > 0, points[:, :3] * 255 / np.maximum(points[:, 3:], 1e-9), 0)
    return np.column_stack([np.clip(np.rint(rgb), 0, 255), alpha]).astype(np.uint8)
