"""Stage: preprocessed arrays → batches. The batches index, lightly augment and scale.

Every image (real, synthetic, pseudo-labelled) is preprocessed once into uint8 (``hwr.cache``, on
disk and memory-mapped); a stage's data is an ``ImageStack`` of those arrays, repeated as the mix
asks, without copying them into one array (331k real crops repeated would not fit in a laptop).
``Batches`` is a ``keras.utils.PyDataset``: it runs on every backend without TensorFlow, and on the
TensorFlow backend Keras feeds it through a ``tf.data`` pipeline (``from_generator`` + prefetch) so
loading overlaps the training step.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import keras
import numpy as np

from hwr import config
from hwr.alphabet import Alphabet


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


class ImageStack:
    """Arrays (N_i, H, W) seen as one, each repeated ``reps`` times, gathered by index without a copy."""

    def __init__(self, parts: Sequence[tuple[np.ndarray, int]]):
        self.parts = [p for p, reps in parts for _ in range(reps)]
        self.shape = (sum(len(p) for p in self.parts), *self.parts[0].shape[1:]) if self.parts else (0,)
        self.starts = np.cumsum([0] + [len(p) for p in self.parts])

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, idx: np.ndarray) -> np.ndarray:
        """Rows ``idx`` (an integer array) as one new array, in the order asked."""
        idx = np.asarray(idx)
        which = np.searchsorted(self.starts, idx, side="right") - 1
        out = np.empty((len(idx), *self.shape[1:]), np.uint8)
        for k in np.unique(which):
            sel = which == k
            rows = idx[sel] - self.starts[k]
            order = np.argsort(rows)  # memory maps read fastest in file order
            out[np.flatnonzero(sel)[order]] = self.parts[k][rows[order]]
        return out


class Batches(keras.utils.PyDataset):
    """(images uint8 (N, H, W), texts) → shuffled batches of (float32 (B, H, W, 1), int32 labels).

    ``images`` is an array, a memory map or an ``ImageStack``: anything indexed by an integer array.
    """

    def __init__(self, images: np.ndarray | ImageStack, texts: Sequence[str], alphabet: Alphabet,
                 batch_size: int = 64, shuffle: bool = True, seed: int = 0,
                 augment_mask: np.ndarray | None = None, steps: int | None = None,
                 first_epoch: int = 0, shard: tuple[int, int] = (0, 1), **kwargs):
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
        self.shard = shard  # (k, n): this process gives rows k, k+n, … of every global batch (multi-process JAX)
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
        idx = self._order[index * self.batch_size:(index + 1) * self.batch_size][self.shard[0]::self.shard[1]]
        rng = np.random.default_rng([self.seed, self.epoch, index, *self.shard[:self.shard[1] > 1]])
        x = np.array(self.images[idx])  # a copy: augmentation must not write into a cache
        for j in np.flatnonzero(self.augment_mask[idx]):
            x[j] = augment(x[j], rng)
        return (x.astype(np.float32) / 255.0)[..., None], self.labels[idx]

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self._order = self._make_order()
