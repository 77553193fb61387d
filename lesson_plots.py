"""Plumbing for color_compression.ipynb: figures, the photo credit, files, the chart, the JPEG search.

Nothing here is about colour compression itself; the notebook keeps that in plain sight. Every figure
is shown with `show`, which writes the photo's credit under it (unless it is a graphic the notebook
drew) and stores a short description as the image's alternative text (for screen readers and the
HTML export).
"""
import contextlib
import io
import textwrap

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display
from PIL import Image
from skimage import color as skcolor

from colorquant import palette_image, png_bytes

CREDIT = ""   # set by set_photo_credit: printed under every figure of the photo
BRIGHTNESS = np.array([0.3, 0.59, 0.11])   # weights of R, G and B in a colour's brightness


def set_photo_credit(photo_credit):
    """Remember the credit that every figure of the photo (or of a changed version) must carry."""
    global CREDIT
    CREDIT = f"Photo: {photo_credit}; crops, compressed copies and plots of its pixels are changed versions."


def show(fig, alt, credit=True, layout=True):
    """Display a figure with the photo credit along its bottom (credit=False for a graphic), alt as its
    alternative text; then close it, so that it is shown once."""
    fig.set_label("photo" if credit else "graphic")
    if credit:
        text = textwrap.fill(CREDIT, int(13 * fig.get_figwidth()))   # about 13 characters per inch
        fig.text(0.5, 0.005, text, ha="center", va="bottom", fontsize=8.5, color="0.25")
    if layout:
        fig.tight_layout(rect=(0, 0.42 / fig.get_figheight() if credit else 0, 1, 1))
    display(fig, metadata={"image/png": {"alt": alt}})
    plt.close(fig)


def show_images(images, titles, alt, ncols=None, width=9.0, credit=True):
    """Show images in a grid of ncols columns, each titled, every pixel a sharp block."""
    ncols = ncols or len(images)
    nrows = -(-len(images) // ncols)   # rounded up
    lines = max(title.count("\n") + 1 for title in titles)
    panel = width / ncols * images[0].shape[0] / images[0].shape[1] + 0.1 + 0.25 * lines   # inches high
    fig, axes = plt.subplots(nrows, ncols, squeeze=False, figsize=(width, nrows * panel + 0.5 * credit))
    for i, ax in enumerate(axes.flat):   # spare axes stay empty
        ax.set_axis_off()
        if i < len(images):
            ax.imshow(images[i], interpolation="nearest")
            ax.set_title(titles[i])
    show(fig, alt, credit)


def show_native(images, titles, alt, gap=16, credit=True):
    """Show images side by side at their own size: one image pixel per screen pixel, no scaling
    (credit=False for pictures that are not the photo)."""
    dpi = plt.rcParams["figure.dpi"]
    height = max(image.shape[0] for image in images)
    width = sum(image.shape[1] for image in images) + gap * (len(images) - 1)
    total_h = height + 34 + 60   # pixels: image, title above, credit below
    fig = plt.figure(figsize=(width / dpi, total_h / dpi), dpi=dpi)
    left = 0
    for image, title in zip(images, titles, strict=True):
        h, w = image.shape[:2]
        ax = fig.add_axes((left / width, 60 / total_h, w / width, h / total_h))
        ax.imshow(image, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
        left += w + gap
    show(fig, alt, credit=credit, layout=False)


def crop_box(picture, top, left, size=120, width=None):
    """A window of picture size high and width (default size) wide, its corner at fractions (top, left)
    of the picture's height and width, kept inside the picture."""
    width = width or size
    y = min(int(top * picture.shape[0]), max(picture.shape[0] - size, 0))
    x = min(int(left * picture.shape[1]), max(picture.shape[1] - width, 0))
    return np.s_[y:y + size, x:x + width]


def ink_for(color):
    """Black or white, whichever reads better on this RGB colour."""
    return "white" if np.dot(color, BRIGHTNESS) < 128 else "black"


def dark_to_light(colors):
    """The order that sorts RGB colours by brightness, darkest first (ties keep their order)."""
    return np.argsort(np.asarray(colors) @ BRIGHTNESS, kind="stable")


def show_palette(colors, shares, title, alt, per_row=8):
    """One swatch per colour, labelled with its RGB value and its share of the pixels, dark to light."""
    order = dark_to_light(colors)
    colors, shares = np.asarray(colors)[order], np.asarray(shares)[order]
    per_row = min(per_row, len(colors))
    rows = -(-len(colors) // per_row)
    fig, ax = plt.subplots(figsize=(9, 0.85 * rows + 0.95))
    grid = np.full((rows * per_row, 3), 255, dtype=np.uint8)
    grid[:len(colors)] = colors
    ax.imshow(grid.reshape(rows, per_row, 3), aspect="auto")
    for i, (color, share) in enumerate(zip(colors, shares, strict=True)):
        ax.text(i % per_row, i // per_row, f"{tuple(int(v) for v in color)}\n{share:.1%}", ha="center",
                va="center", fontsize=7.5, color=ink_for(color))
    ax.set(xticks=[], yticks=[], title=title)
    show(fig, alt)


def show_palette_strips(palettes, alt):
    """One row of swatches per k (palettes: {k: (k, 3) colours}), each row sorted from dark to light."""
    most = max(palettes)
    fig, ax = plt.subplots(figsize=(9, 0.36 * len(palettes) + 1.0))
    strips = np.full((len(palettes), most, 3), 255, dtype=np.uint8)
    for row, (k, colors) in enumerate(sorted(palettes.items())):
        strips[row, :k] = colors[dark_to_light(colors)]
    ax.imshow(strips, aspect="auto", interpolation="nearest")
    ax.set_yticks(range(len(palettes)), [f"k = {k}" for k in sorted(palettes)])
    ax.set_xticks([])
    ax.set_title("Each k's palette, dark to light")
    for spine in ax.spines.values():
        spine.set_visible(False)
    show(fig, alt)


def scatter_rgb(ax, points, colors, title, centers=None, starts=None):
    """Scatter RGB points in 3-D, each dot in its colour. Markers, the same in every figure: starting
    centroids (starts) as large open circles, centroids after updates (centers) as crosses."""
    ax.computed_zorder = False   # draw in call order, so that no dot hides a marker
    ax.scatter(*np.asarray(points).T, c=np.asarray(colors) / 255, s=5, depthshade=False)
    if starts is not None:
        ax.scatter(*np.asarray(starts, dtype=float).T, s=220, facecolors="none", edgecolors="black",
                   linewidths=2.5, depthshade=False)
    if centers is not None:
        centers = np.asarray(centers, dtype=float)
        ax.scatter(*centers.T, c=np.clip(centers, 0, 255) / 255, s=300, marker="X", edgecolors="black",
                   linewidths=2, depthshade=False)
    ax.set(xlabel="red", ylabel="green", xlim=(0, 255), ylim=(0, 255), zlim=(0, 255), title=title)
    ax.set_zlabel("blue", labelpad=8)
    ax.view_init(elev=20, azim=-60)


def show_update(points, colors, starts, after, alt):
    """One update step seen from above the blue axis (red against green): the pixels in colors, each
    start (open circle) with an arrow to the centroid after the update (cross), both labelled in RGB."""
    fig, ax = plt.subplots(figsize=(7, 6.2))
    ax.scatter(*np.asarray(points)[:, :2].T, c=np.asarray(colors) / 255, s=5, alpha=0.5)
    for old, new in zip(np.asarray(starts, dtype=float), np.asarray(after, dtype=float), strict=True):
        ax.annotate("", xy=new[:2], xytext=old[:2], zorder=3,
                    arrowprops={"arrowstyle": "-|>,head_length=0.8,head_width=0.45", "lw": 2.5,
                                "color": "black", "shrinkA": 9, "shrinkB": 11})
        ax.scatter(*old[:2], s=220, facecolors="none", edgecolors="black", linewidths=2.5, zorder=4)
        ax.scatter(*new[:2], s=300, marker="X", c=[np.clip(new, 0, 255) / 255], edgecolors="black",
                   linewidths=2, zorder=4)
        side = 1 if new[0] >= old[0] else -1   # labels on the far sides, away from the arrow
        for point, word, towards in [(old, "start", -side), (new, "mean", side)]:
            ax.annotate(f"{word} {tuple(int(v) for v in np.rint(point))}", point[:2], zorder=5,
                        xytext=(14 * towards, -16 if word == "start" else 10), textcoords="offset points",
                        ha="left" if towards > 0 else "right", fontsize=9,
                        bbox={"boxstyle": "round", "fc": "white", "alpha": 0.85})
    ax.scatter([], [], s=150, facecolors="none", edgecolors="black", linewidths=2, label="start")
    ax.scatter([], [], s=150, marker="X", c="0.6", edgecolors="black", label="mean after one update")
    ax.legend(loc="upper left")
    ax.set(xlabel="red", ylabel="green", xlim=(0, 255), ylim=(0, 255), aspect="equal",
           title="One update, seen along the blue axis (red against green)")
    show(fig, alt)


def rgb_axes(n=2, width=10.0, height=5.0):
    """A figure with n 3-D axes side by side, for scatter_rgb."""
    fig = plt.figure(figsize=(width, height))
    return fig, [fig.add_subplot(1, n, i + 1, projection="3d") for i in range(n)]


def fit_logged(model, X, **fit_kwargs):
    """Fit a scikit-learn KMeans with verbose=1 and collect what it prints: (model, the inertia at each
    iteration, its last line, which says why it stopped)."""
    log = io.StringIO()
    with contextlib.redirect_stdout(log):
        model.set_params(verbose=1).fit(X, **fit_kwargs)
    lines = log.getvalue().splitlines()
    inertias = [float(line.split("inertia ")[1].rstrip(".")) for line in lines if "inertia" in line]
    model.set_params(verbose=0)
    return model, inertias, lines[-1]


def save_png(picture, path, title, photo_credit):
    """Write a changed version of the photo as a palette PNG with its title and credit; return its size."""
    text = {"Title": f"{title} (a changed version)", "Copyright": f"Photo: {photo_credit}"}
    data = png_bytes(picture, text=text)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return len(data)


def draw_chart():
    """A bar chart with a line and text, as an (H, W, 3) uint8 array the size of a small photo."""
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=100)
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun"]
    colours = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]
    ax.bar(months, [12, 19, 7, 15, 22, 9], color=colours)
    ax.plot(months, [10, 14, 12, 16, 18, 13], "k-o", linewidth=2)
    ax.set(title="Tulips sold per month", ylabel="thousands")
    ax.grid(axis="y", alpha=0.4)
    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)   # only its pixels are kept
    return pixels


def jpeg_bytes(picture, quality):
    """An RGB uint8 array as a JPEG file at this quality (1 to 95), with optimised Huffman tables and
    progressive coding, Pillow's options that make the file smallest."""
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, "JPEG", quality=quality, optimize=True, progressive=True)
    return buffer.getvalue()


def jpeg_within(picture, max_bytes):
    """(quality, file) of the highest-quality JPEG of at most max_bytes, found by bisection (the size
    grows with the quality), or quality 1 if even that is larger."""
    low, high = 0, 96   # quality low fits (0: none does), quality high does not (96: beyond the scale)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if len(jpeg_bytes(picture, middle)) <= max_bytes else (low, middle)
    return max(low, 1), jpeg_bytes(picture, max(low, 1))


def decoded(data):
    """The pixels of an image file (bytes) as an RGB uint8 array."""
    with Image.open(io.BytesIO(data)) as file:
        return np.asarray(file.convert("RGB"))


_LAST_LAB = [None, None]   # the last original and its CIELAB values: several versions compare with one


def mean_delta_e(original, changed):
    """Mean CIEDE2000 colour difference between two RGB uint8 images (about 1: just noticeable)."""
    if _LAST_LAB[0] is not original:
        _LAST_LAB[:] = [original, skcolor.rgb2lab(original)]
    return skcolor.deltaE_ciede2000(_LAST_LAB[1], skcolor.rgb2lab(changed)).mean()


def k_explorer(palettes, label_images, psnr_k, start):
    """A slider over the fitted k values, showing each k's image at its own size, palette and PSNR."""
    import ipywidgets as widgets  # here, so that the notebook's other cells do not wait for it

    slider = widgets.SelectionSlider(options=sorted(palettes), value=start, description="k")
    width = widgets.Layout(width=f"{label_images[start].shape[1]}px")
    picture, swatches, caption = widgets.Image(layout=width), widgets.Image(layout=width), widgets.HTML()

    def show_k(change=None):
        k = slider.value
        picture.value = png_bytes(palette_image(palettes[k], label_images[k]))
        strip = np.repeat(np.arange(k)[None], 24, axis=0).repeat(max(1, 512 // k), axis=1)
        swatches.value = png_bytes(palette_image(palettes[k], strip))   # the palette, entry by entry
        caption.value = f"k = {k}: PSNR {psnr_k[k]:.2f} dB. {CREDIT}"

    slider.observe(show_k, names="value")
    show_k()
    return widgets.VBox([slider, picture, swatches, caption])
