"""Stage: synthetic data, the photo look. A name written on a sheet and photographed with a phone."""

from __future__ import annotations

import math

import cv2
import numpy as np

from hwr.synth.fonts import BASE_CAP
from hwr.synth.hand import ellipse, pen_name, resized


def _smooth_field(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """Zero-mean, unit-scale noise varying over ``cells`` cells across: paper grain, uneven light."""
    coarse = rng.normal(0.0, 1.0, (max(2, cells * h // max(w, 1) + 1), cells)).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)


def render_photo(text: str, path: str, rng: np.random.Generator) -> np.ndarray:
    """A phone photo of the name written on a sheet, in gray: what the Upload page gets from a phone.

    The name (ballpoint or felt pen, black or blue: dark gray here) sits somewhere on textured paper,
    sometimes ruled, with specks and a page edge on a dark table; then the photo: a slight
    rotation, light falling off across the sheet, a soft-edged shadow, blur, sensor noise, JPEG.
    Smaller than a real photo (the preprocessing sees only relative sizes) so it renders fast.
    """
    cap = rng.uniform(20, 56)
    ink = resized(pen_name(text, path, rng, spacing=rng.uniform(0.05, 0.9)).ink, cap / BASE_CAP)
    if rng.random() < 0.3:  # a felt pen
        ink = cv2.dilate(ink, ellipse(int(rng.integers(2, 4))))
    h, w = ink.shape
    W = int(w / rng.uniform(0.35, 0.9)) + 8
    H = max(int(W * rng.uniform(0.45, 0.85)), 3 * h)
    img = np.full((H, W), rng.uniform(200, 250), np.float32)
    img += rng.uniform(1, 5) * _smooth_field(rng, H, W, int(rng.integers(40, 160)))
    if rng.random() < 0.25:  # ruled paper, faint
        gap = rng.uniform(1.3, 2.2) * cap
        for ly in np.arange(rng.uniform(0, gap), H, gap):
            img[int(ly) : int(ly) + max(1, int(cap / 25))] *= rng.uniform(0.8, 0.93)
    x, y = int(rng.uniform(2, W - w - 2)), int(rng.uniform(0.1 * H, max(0.1 * H + 1, H - h - 0.1 * H)))
    alpha = ink.astype(np.float32) / 255.0 * rng.uniform(0.75, 1.0)
    region = img[y : y + h, x : x + w]
    region += alpha * (rng.uniform(15, 90) - region)
    if rng.random() < 0.3:
        for _ in range(int(rng.integers(1, 8))):
            cv2.circle(img, (int(rng.uniform(0, W)), int(rng.uniform(0, H))),
                       int(rng.integers(1, 3)), float(rng.uniform(40, 150)), -1)
    if rng.random() < 0.2:  # the page edge, the table beyond it
        band = int(rng.uniform(0.03, 0.15) * W)
        table = rng.uniform(20, 110) + 4 * _smooth_field(rng, H, band, 8)
        if rng.random() < 0.5:
            img[:, :band] = table
        else:
            img[:, W - band :] = table
    rot = cv2.getRotationMatrix2D((W / 2, H / 2), rng.uniform(-5, 5), 1.0)
    img = cv2.warpAffine(img, rot, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    theta = rng.uniform(0, 2 * np.pi)
    along = (xs * math.cos(theta) + ys * math.sin(theta)) / math.hypot(W, H)
    light = 1.0 - rng.uniform(0.0, 0.5) * (along - along.min()) + 0.04 * _smooth_field(rng, H, W, 4)
    # the shadow: everything beyond a line across the sheet, with a blurred edge
    phi, offset = rng.uniform(0, 2 * np.pi), rng.uniform(0.3, 0.9)
    side = (xs / W - 0.5) * math.cos(phi) + (ys / H - 0.5) * math.sin(phi) - (offset - 0.5)
    edge = rng.uniform(0.02, 0.12)
    shadow = 1.0 / (1.0 + np.exp(-side / edge))
    if rng.random() < 0.8:
        light *= 1.0 - rng.uniform(0.2, 0.65) * shadow
    img *= light * rng.uniform(0.5, 1.05)
    img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.5))
    img += rng.normal(0, rng.uniform(1, 6), img.shape).astype(np.float32)
    img = np.clip(img, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(40, 93))])
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE) if ok else img
