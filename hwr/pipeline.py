"""Stage: samples → batches. Images are preprocessed once into compact uint8 arrays, then batched.

Preprocessing a crop costs ~2 ms and a training step far more, so every image (real, synthetic,
pseudo-labelled) goes through the shared ``preprocess`` once, is cached on disk as uint8, and the
batches only index, lightly augment and scale. ``Batches`` is a ``keras.utils.PyDataset``: it runs
on every backend without TensorFlow, and on the TensorFlow backend Keras feeds it through a
``tf.data`` pipeline (``from_generator`` + prefetch) so loading overlaps the training step.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Sequence

import cv2
import keras
import numpy as np
from tqdm.auto import tqdm

from hwr import config
from hwr.alphabet import Alphabet
from hwr.preprocess import PREPROCESS_VERSION, ImageError, preprocess, to_uint8

log = logging.getLogger(__name__)


def prepare(source, height: int = config.IMG_HEIGHT, width: int = config.IMG_WIDTH) -> np.ndarray:
    """The shared preprocessing, stored as uint8 (what caches and synthesis workers return)."""
    return to_uint8(preprocess(source, height, width))


def prepare_files(paths: Sequence[Path], height: int, width: int, cache: Path | None = None,
                  desc: str = "preprocess") -> tuple[np.ndarray, list[int]]:
    """Preprocess image files (cached by their names and the size); returns arrays and kept indices.

    Unreadable files are logged and skipped, so one corrupt scan does not stop a 331k-image run.
    """
    key = hashlib.sha1("\n".join(map(str, paths)).encode()
                       + f"{height}x{width}v{PREPROCESS_VERSION}".encode()).hexdigest()[:12]
    cache_file = cache / f"{desc}-{key}.npz" if cache else None
    if cache_file and cache_file.is_file():
        with np.load(cache_file) as z:
            return z["images"], z["kept"].tolist()
    images, kept = [], []
    for i, path in enumerate(tqdm(paths, desc=desc, unit="img", leave=False)):
        try:
            images.append(prepare(path, height, width))
            kept.append(i)
        except ImageError as err:
            log.warning("skipped %s", err)
    arr = np.stack(images) if images else np.zeros((0, height, width), np.uint8)
    if cache_file:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache_file, images=arr, kept=np.array(kept, np.int64))
    return arr, kept


def augment(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Small geometric and stroke changes, so 1,000 real crops seen 20 times never look identical."""
    h, w = image.shape
    scale = rng.uniform(0.85, 1.05)
    shear = rng.uniform(-0.25, 0.25)
    tx = rng.uniform(0, 0.06 * w)
    ty = rng.uniform(-0.08, 0.08) * h
    m = np.array([[scale, shear, tx - shear * h / 2], [0, scale, ty + (1 - scale) * h / 2]], np.float32)
    out = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=255)
    r = rng.random()
    if r < 0.15:
        out = cv2.erode(out, np.ones((2, 2), np.uint8))  # thicker ink
    elif r < 0.3:
        out = cv2.dilate(out, np.ones((2, 1), np.uint8))  # thinner ink
    return out


class Batches(keras.utils.PyDataset):
    """(images uint8 (N, H, W), texts) → shuffled batches of (float32 (B, H, W, 1), int32 labels)."""

    def __init__(self, images: np.ndarray, texts: Sequence[str], alphabet: Alphabet,
                 batch_size: int = 64, shuffle: bool = True, seed: int = 0,
                 augment_mask: np.ndarray | None = None, steps: int | None = None,
                 first_epoch: int = 0, **kwargs):
        super().__init__(**kwargs)
        if len(images) != len(texts):
            raise ValueError("images and texts differ in length")
        if len(images) == 0:
            raise ValueError("no training images")
        self.images = images
        self.labels = alphabet.encode_batch(list(texts), config.MAX_LABEL_LEN)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.augment_mask = augment_mask if augment_mask is not None else np.zeros(len(images), bool)
        self.steps = steps or int(np.ceil(len(images) / batch_size))
        self.epoch = first_epoch  # a resumed run shuffles on from where it stopped
        self.seed = seed
        self._order = self._make_order()

    def _make_order(self) -> np.ndarray:
        needed = self.steps * self.batch_size
        rng = np.random.default_rng([self.seed, self.epoch])
        reps = int(np.ceil(needed / len(self.images)))
        order = np.concatenate([rng.permutation(len(self.images)) if self.shuffle
                                else np.arange(len(self.images)) for _ in range(reps)])
        return order[:needed] if self.shuffle else order[:len(self.images)]

    def __len__(self) -> int:
        return self.steps if self.shuffle else int(np.ceil(len(self.images) / self.batch_size))

    def __getitem__(self, index: int):
        idx = self._order[index * self.batch_size:(index + 1) * self.batch_size]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        x = self.images[idx].copy()
        for j in np.flatnonzero(self.augment_mask[idx]):
            x[j] = augment(x[j], rng)
        return (x.astype(np.float32) / 255.0)[..., None], self.labels[idx]

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self._order = self._make_order()
