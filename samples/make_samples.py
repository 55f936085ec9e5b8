"""Draws the sample images in this folder procedurally (no photographs, nothing downloaded).

Rerun from the repository root with the Debian Python that has Pillow and numpy:
    /usr/bin/python3 samples/make_samples.py
The output is deterministic for a given Pillow/libjpeg (written with Pillow 9.4, quality 90).
"""
import math
import os

import numpy as np
from PIL import Image, ImageDraw

HERE = os.path.dirname(os.path.abspath(__file__))


def sunset(w=320, h=240):
    y = np.linspace(0.0, 1.0, h)[:, None, None]
    top = np.array([40, 30, 110], dtype=np.float64)
    bottom = np.array([250, 150, 60], dtype=np.float64)
    sky = (top * (1 - y) + bottom * y) * np.ones((1, w, 1))
    img = Image.fromarray(sky.astype(np.uint8), "RGB")
    d = ImageDraw.Draw(img)
    d.ellipse([w * 0.55, h * 0.45, w * 0.55 + 70, h * 0.45 + 70], fill=(255, 220, 120))
    for layer, (shade, amp, base, freq) in enumerate([((70, 40, 60), 18, 0.70, 2.0), ((30, 20, 35), 12, 0.82, 3.3)]):
        pts = [(x, h * base + amp * math.sin(freq * 2 * math.pi * x / w + layer)) for x in range(0, w + 1, 4)]
        d.polygon(pts + [(w, h), (0, h)], fill=shade)
    return img


def shapes(w=256, h=256):
    yy, xx = np.mgrid[0:h, 0:w] / max(w, h)
    bg = np.stack([200 - 80 * xx, 210 - 40 * yy, 170 + 60 * xx * yy], axis=-1)
    img = Image.fromarray(np.clip(bg, 0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(img)
    d.ellipse([30, 40, 130, 140], fill=(200, 40, 40), outline=(90, 10, 10), width=4)
    d.rectangle([140, 60, 230, 200], fill=(40, 90, 200), outline=(10, 30, 90), width=4)
    d.polygon([(60, 230), (120, 150), (180, 235)], fill=(240, 200, 30), outline=(120, 90, 0))
    return img


def rings(w=240, h=320):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    r = np.hypot(xx - w / 2, yy - h / 2)
    a = np.arctan2(yy - h / 2, xx - w / 2)
    red = 128 + 110 * np.sin(r / 9.0)
    green = 128 + 110 * np.sin(a * 6 + r / 40.0)
    blue = 128 + 110 * np.cos(r / 23.0)
    checker = ((xx // 40 + yy // 40) % 2) * 30
    rgb = np.stack([red, green, blue - checker], axis=-1)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


for name, make in [("sunset.jpg", sunset), ("shapes.jpg", shapes), ("rings.jpg", rings)]:
    path = os.path.join(HERE, name)
    make().save(path, "JPEG", quality=90)
    print(f"{name}: {os.path.getsize(path)} bytes")
