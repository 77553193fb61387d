"""The small test images and files the tests make, in one place: test support, not library code."""
import hashlib
import io
import struct
import zlib

import numpy as np
from PIL import Image

EXIF_ORIENTATION = 0x0112


def photo_like(width=48, height=32, seed=1):
    """A small RGB test image: smooth gradients plus noise, so it has many distinct colours."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([255 * x / width, 255 * y / height, 128 + 100 * np.sin(x / 5.0)], axis=-1)
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


def with_alpha(pixels):
    """The RGB pixels with an alpha channel that runs from 0 to 255 across the width."""
    height, width = pixels.shape[:2]
    alpha = np.tile(np.linspace(0, 255, width).astype(np.uint8), (height, 1))
    return np.dstack([pixels, alpha])


def same_image(a, b):
    """Whether two PIL images have the same mode, size, pixels and palette."""
    return (a.mode == b.mode and a.size == b.size and a.tobytes() == b.tobytes()
            and a.getpalette() == b.getpalette())


def same_pixels(a, b):
    """Whether two PIL images show the same RGBA pixels, whatever their modes."""
    return np.array_equal(np.asarray(a.convert("RGBA")), np.asarray(b.convert("RGBA")))


def rotated_jpeg_bytes():
    """A 48 x 32 JPEG whose EXIF says 'rotate 90': shown upright it is 32 x 48 (a phone photo)."""
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    buffer = io.BytesIO()
    Image.fromarray(photo_like()).save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def corrupt_exif_bytes(kind):
    """A 48 x 32 image file of this kind (PNG, WEBP, JPEG) with an EXIF block that is not a TIFF."""
    buffer = io.BytesIO()
    image = Image.fromarray(photo_like())
    if kind == "JPEG":   # an APP1 Exif segment right after the start-of-image marker
        image.save(buffer, "JPEG")
        payload = b"Exif\x00\x00garbage-not-tiff"
        data = buffer.getvalue()
        return data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:]
    image.save(buffer, kind, exif=b"garbage-not-tiff")   # PNG: an eXIf chunk; WebP: an EXIF chunk
    return buffer.getvalue()


def animated_gif_bytes(frames=3):
    """A GIF of several frames, each another flat colour."""
    images = [Image.new("RGB", (16, 12), (80 * i, 40, 200 - 60 * i)) for i in range(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, "GIF", save_all=True, append_images=images[1:], duration=100)
    return buffer.getvalue()


def png_header_only(width, height):
    """A PNG that claims width x height pixels and holds no pixel data: a bomb if opened, not decoded."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def fingerprint(path):
    """A file's content hash and modification time: equal before and after means untouched."""
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def files_in(folder):
    """Every file and folder under folder, as sorted relative paths (hidden ones too)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def cmyk_profile():
    """A small ICC v2 CMYK printer profile (CMYK to Lab through a 2-point lut8 table) that is far from
    Pillow's plain CMYK conversion: cyan ink shows orange, magenta green, yellow blue. A test profile."""
    def tag(kind, body):
        return kind + b"\0\0\0\0" + body

    def lab(l, a, b):                     # lut8 Lab encoding: L* 0-100 as 0-255, a* and b* + 128
        return bytes([round(l * 255 / 100), a + 128, b + 128])

    grid = b""
    for c in (0, 1):                      # the first input channel varies slowest
        for m in (0, 1):
            for y in (0, 1):
                for k in (0, 1):
                    light = 95 * (1 - 0.8 * k) * (1 - 0.2 * (c + m + y))
                    grid += lab(light, 50 * c - 60 * m, 60 * c - 70 * y)
    identity = bytes(range(256))
    matrix = struct.pack(">9i", *(65536 if row == column else 0 for row in range(3) for column in range(3)))
    lut = b"mft1\0\0\0\0" + bytes([4, 3, 2, 0]) + matrix + identity * 4 + grid + identity * 3
    text = b"colorquant test CMYK\0"
    description = (tag(b"desc", struct.pack(">I", len(text)) + text)
                   + b"\0" * 8 + b"\0\0\0" + b"\0" * 67)
    white = tag(b"XYZ ", struct.pack(">iii", 63190, 65536, 54061))
    copyright = tag(b"text", b"public domain\0")
    tags = [(b"desc", description), (b"wtpt", white), (b"cprt", copyright), (b"A2B0", lut)]
    offset = 128 + 4 + 12 * len(tags)
    table, data = struct.pack(">I", len(tags)), b""
    for signature, body in tags:
        body += b"\0" * (-len(body) % 4)
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = (struct.pack(">I", size) + b"\0\0\0\0" + struct.pack(">I", 0x02100000) + b"prtr" + b"CMYK"
              + b"Lab " + b"\0" * 12 + b"acsp" + b"\0" * 24 + struct.pack(">I", 0)
              + struct.pack(">iii", 63190, 65536, 54061) + b"\0" * 48)
    assert len(header) == 128
    return header + table + data


def icon_sheet():
    """8 anti-aliased icons (discs, rounded squares, triangles, each with a white dot) on a transparent
    256 x 128 canvas: drawn at 4 times the size and scaled down, so their edges have graded alpha."""
    from PIL import ImageDraw

    scale, size = 4, 64
    big = Image.new("RGBA", (256 * scale, 128 * scale), (0, 0, 0, 0))
    draw = ImageDraw.Draw(big)
    colors = [(220, 40, 40), (40, 160, 60), (30, 90, 200), (240, 200, 20), (150, 60, 180), (20, 170, 170),
              (250, 120, 30), (60, 60, 60)]
    for i, color in enumerate(colors):
        left, top, margin = (i % 4) * size * scale, (i // 4) * size * scale, 8 * scale
        box = (left + margin, top + margin, left + (size - 8) * scale, top + (size - 8) * scale)
        if i % 3 == 0:
            draw.ellipse(box, fill=color + (255,))
        elif i % 3 == 1:
            draw.rounded_rectangle(box, radius=10 * scale, fill=color + (255,))
        else:
            corners = [(left + 32 * scale, box[1]), (box[2], box[3]), (box[0], box[3])]
            draw.polygon(corners, fill=color + (255,))
        draw.ellipse((left + 26 * scale, top + 26 * scale, left + 38 * scale, top + 38 * scale),
                     fill=(255, 255, 255, 255))
    return big.resize((256, 128), Image.Resampling.LANCZOS)
