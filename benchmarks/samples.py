"""The benchmark images, written as PNG files: the sample photos and the transparency cases.

Sample photos: the tulips and scikit-learn's china.jpg and flower.jpg, each saved as a JPEG at quality
95 (as a user's photo would be) and then as a PNG, so that every quantiser reads the same pixels.
Transparency cases (400 x 300, but for the first): the opaque tulips as RGBA, a logo with on/off alpha,
a soft shadow with graded alpha, and the tulips cut out by an ellipse with a feathered edge.
Usage: paths = write_samples(folder) -> {name: Path to its PNG}.
"""
import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from sklearn.datasets import load_sample_image

ROOT = Path(__file__).resolve().parents[1]
TULIPS = ROOT / "images" / "tulips.jpg"
CASE_SIZE = (400, 300)
PHOTOS = ("tulips", "china", "flower")
TRANSPARENT = ("tulips_rgba", "logo", "shadow", "tulips_feathered")


def _jpeg95(pixels):
    """The pixels after a round trip through a quality-95 JPEG."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=95)
    return np.asarray(Image.open(buffer).convert("RGB"))


def photo(name):
    """One sample photo as an (H, W, 3) uint8 array."""
    if name == "tulips":
        with Image.open(TULIPS) as image:
            return _jpeg95(np.asarray(image.convert("RGB")))
    return _jpeg95(load_sample_image(f"{name}.jpg"))


def _tulips_small():
    with Image.open(TULIPS) as image:
        return image.convert("RGB").resize(CASE_SIZE, Image.Resampling.LANCZOS)


def logo():
    """40 overlapping flat-coloured ellipses and a line of text on a transparent background (on/off alpha)."""
    rng = np.random.default_rng(0)
    image = Image.new("RGBA", CASE_SIZE, (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    width, height = CASE_SIZE
    for _ in range(40):
        x, y = rng.integers(0, width), rng.integers(0, height)
        rx, ry = rng.integers(10, 60, size=2)
        color = tuple(int(c) for c in rng.integers(0, 256, size=3)) + (255,)
        draw.ellipse((x - rx, y - ry, x + rx, y + ry), fill=color)
    draw.text((20, height - 40), "colorquant: a logo with a transparent background", fill=(20, 20, 20, 255))
    return image


def shadow():
    """One colour, alpha falling from 255 at the centre to 0 at the edges."""
    width, height = CASE_SIZE
    y, x = np.mgrid[0:height, 0:width]
    distance = np.hypot((x - width / 2) / (width / 2), (y - height / 2) / (height / 2))
    alpha = np.clip(255 * (1 - distance), 0, 255).astype(np.uint8)
    rgba = np.zeros((height, width, 4), np.uint8)
    rgba[..., :3] = (40, 30, 60)
    rgba[..., 3] = alpha
    return Image.fromarray(rgba, "RGBA")


def tulips_feathered():
    """The tulips cut out by an ellipse whose edge is blurred (graded alpha at the edge)."""
    image = _tulips_small().convert("RGBA")
    mask = Image.new("L", CASE_SIZE, 0)
    width, height = CASE_SIZE
    ImageDraw.Draw(mask).ellipse((30, 20, width - 30, height - 20), fill=255)
    image.putalpha(mask.filter(ImageFilter.GaussianBlur(12)))
    return image


def transparent_case(name):
    """One transparency case as a PIL RGBA image."""
    if name == "tulips_rgba":   # the whole tulips photo, with an alpha channel that is 255 everywhere
        return Image.fromarray(photo("tulips")).convert("RGBA")
    return {"logo": logo, "shadow": shadow, "tulips_feathered": tulips_feathered}[name]()


def write_samples(folder, names=PHOTOS + TRANSPARENT):
    """Write each named image as a PNG in folder (when missing); return {name: path}."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in names:
        path = folder / f"{name}.png"
        if not path.exists():
            image = Image.fromarray(photo(name)) if name in PHOTOS else transparent_case(name)
            image.save(path)
        paths[name] = path
    return paths
