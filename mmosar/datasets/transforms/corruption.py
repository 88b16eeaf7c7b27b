"""Corruptions of one modality of a paired image, for robustness evaluation.

Used by ``tools/analysis_tools/eval_modality_robustness.py``, which inserts
:class:`ModalityCorruption` right after ``LoadPairedImages`` in the test
pipeline, so that every later transform (resize, padding) sees the corrupted
pair exactly as a real degraded acquisition would be seen.
"""
import zlib
from typing import Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from mmosar.registry import TRANSFORMS

from .paired import _get_modality_slice

CONDITIONS = ('none', 'zero', 'noise', 'speckle', 'haze', 'cloud', 'shift')


@TRANSFORMS.register_module()
class ModalityCorruption(BaseTransform):
    r"""Corrupt the bands of one modality of a stacked paired image.

    With :math:`x` the modality's bands (H, W, C) on the 0-255 scale and
    :math:`s` the ``severity``:

    * ``zero``: :math:`x \leftarrow 0` (the modality is missing);
    * ``noise``: :math:`x \leftarrow u`, :math:`u \sim U[0, 255)` per pixel
      and band (the modality is replaced by noise);
    * ``speckle``: :math:`x \leftarrow \mathrm{clip}(x \cdot g)`,
      :math:`g \sim \Gamma(L, 1/L)` per pixel (shared by the bands), mean 1,
      variance :math:`1/L`, with :math:`L = s` looks (smaller is stronger);
    * ``haze``: :math:`x \leftarrow (1 - s) x + 255 s` (uniform haze of
      transmission :math:`1 - s` with white airlight);
    * ``cloud``: :math:`x \leftarrow (1 - m) x + 255 m`, :math:`m \in [0, 1]`
      a smooth random cloud mask (Gaussian-blurred noise, 1/8 of the image
      side) thresholded so that a fraction :math:`s` of the pixels is
      cloud, with soft edges;
    * ``shift``: the modality is translated by ``(s, s / 2)`` pixels
      (x right, y down; sub-pixel values by bilinear interpolation, borders
      replicated), i.e. misregistered relative to the other modality;
    * ``none``: unchanged (the clean reference).

    Random conditions draw from a generator seeded by ``seed`` and the image
    path, so every image is corrupted the same way in every run.

    Required keys: ``img``, ``modality_channels``. Modified: ``img`` (its
    dtype is kept: an 8-bit pair stays 8-bit, corrupted values rounded and
    clipped to 0-255, so the untouched modality passes the rest of the
    pipeline bit for bit as in the clean run).

    Args:
        condition (str): One of :data:`CONDITIONS`.
        modality (str): The modality to corrupt, e.g. ``'sar'``.
        severity (float): The condition's strength (see above).
        seed (int): Base seed of the random conditions.
    """

    def __init__(self,
                 condition: str,
                 modality: str = 'sar',
                 severity: float = 1.0,
                 seed: int = 0) -> None:
        if condition not in CONDITIONS:
            raise ValueError(f'ModalityCorruption: unknown condition '
                             f'{condition!r}; choose from {CONDITIONS}')
        if condition == 'speckle' and severity <= 0:
            raise ValueError('ModalityCorruption: speckle needs a positive '
                             f'number of looks, got {severity}')
        if condition in ('haze', 'cloud') and not 0 <= severity <= 1:
            raise ValueError(f'ModalityCorruption: {condition} severity is '
                             f'a fraction in [0, 1], got {severity}')
        self.condition = condition
        self.modality = modality
        self.severity = float(severity)
        self.seed = seed

    def _rng(self, results: dict) -> np.random.Generator:
        key = f'{self.seed}:{self.condition}:{results.get("img_path", "")}'
        return np.random.default_rng(zlib.crc32(key.encode()))

    def transform(self, results: dict) -> dict:
        if self.condition == 'none':
            return results
        band = _get_modality_slice(results, self.modality,
                                   'ModalityCorruption')
        img = results['img']
        if img.ndim == 2:
            img = img[..., None]
        x = img[..., band].astype(np.float32)
        corrupted = self.corrupt(x, self._rng(results))
        if img.dtype == np.uint8:  # a degraded 8-bit acquisition
            corrupted = np.clip(np.rint(corrupted), 0, 255)
        out = img.copy()
        out[..., band] = corrupted.astype(img.dtype)
        results['img'] = out if results['img'].ndim == 3 else out[..., 0]
        return results

    def corrupt(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The corrupted bands (H, W, C) float32 of ``x`` (H, W, C)."""
        s = self.severity
        if self.condition == 'zero':
            return np.zeros_like(x)
        if self.condition == 'noise':
            return rng.uniform(0, 255, x.shape).astype(np.float32)
        if self.condition == 'speckle':
            g = rng.gamma(s, 1.0 / s, x.shape[:2]).astype(np.float32)
            return np.clip(x * g[..., None], 0, 255)
        if self.condition == 'haze':
            return (1 - s) * x + 255 * s
        if self.condition == 'cloud':
            m = cloud_mask(x.shape[:2], s, rng)
            return (1 - m[..., None]) * x + 255 * m[..., None]
        return shift_image(x, (s, s / 2))

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(condition={self.condition!r}, '
                f'modality={self.modality!r}, severity={self.severity}, '
                f'seed={self.seed})')


def cloud_mask(shape: Tuple[int, int], cover: float,
               rng: np.random.Generator) -> np.ndarray:
    """A soft cloud mask (H, W) in [0, 1] covering a fraction ``cover``.

    Gaussian-blurred white noise (sigma = 1/8 of the shorter side) is
    thresholded at its ``1 - cover`` quantile; the mask rises from 0 to 1
    over the next 10 % of the value range, so cloud edges are soft.
    """
    if cover <= 0:
        return np.zeros(shape, np.float32)
    noise = rng.standard_normal(shape).astype(np.float32)
    sigma = max(min(shape) / 8, 1.0)
    field = cv2.GaussianBlur(noise, (0, 0), sigma)
    thr = np.quantile(field, 1 - cover)
    span = 0.1 * (field.max() - field.min()) + 1e-12
    return np.clip((field - thr) / span, 0, 1).astype(np.float32)


def shift_image(x: np.ndarray, offset: Tuple[float, float]) -> np.ndarray:
    """Translate ``x`` (H, W, C) by ``offset = (dx, dy)`` pixels.

    Output pixel ``(u, v)`` takes the input at ``(u - dx, v - dy)``, by
    bilinear interpolation in float32; positions outside the image take the
    nearest border pixel (coordinates clipped to the image).
    """
    dx, dy = offset
    h, w = x.shape[:2]

    def axis(n: int, d: float) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        pos = np.clip(np.arange(n, dtype=np.float64) - d, 0, n - 1)
        low = np.floor(pos).astype(np.int64)
        high = np.minimum(low + 1, n - 1)
        return low, high, (pos - low).astype(np.float32)

    y0, y1, wy = axis(h, dy)
    x0, x1, wx = axis(w, dx)
    x = x.astype(np.float32)
    rows = (x[y0] * (1 - wy)[:, None, None] + x[y1] * wy[:, None, None])
    return (rows[:, x0] * (1 - wx)[None, :, None] +
            rows[:, x1] * wx[None, :, None])
