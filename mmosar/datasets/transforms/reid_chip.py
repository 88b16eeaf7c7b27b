"""Ship-chip transforms for cross-modal ReID (TransOSS / HOSS).

Loading (optical RGB or float32 SAR chip -> 3-channel uint8), the TransOSS
ship-size vector and the reid-strong-baseline pad + random crop. Random
erasing runs after normalisation, in ``ReIDDataPreprocessor``. Packing is
mmpretrain's ``PackInputs`` (a :class:`mmpretrain.structures.DataSample`
with ``gt_label`` and the meta keys ``modality``, ``ship_size``, ...).
"""
import random
from typing import Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from mmosar.registry import TRANSFORMS

OPTICAL, SAR = 0, 1


@TRANSFORMS.register_module()
class LoadShipChip(BaseTransform):
    """Load an optical or SAR chip as a 3-channel uint8 image.

    Optical images are read as colour (BGR, the OpenMMLab convention; a
    grey optical image is replicated). SAR images are read unchanged: a
    non-uint8 (e.g. float32 GeoTIFF) chip is divided by its own maximum,
    scaled to 0-255 in float32 and truncated to uint8 (TransOSS); a uint8
    chip is used as is. A single band is replicated to 3 channels.

    Required keys: ``img_path``, ``modality``.
    Added keys: ``img`` (H, W, 3) uint8, ``img_shape``, ``ori_shape``.
    """

    def transform(self, results: dict) -> dict:
        path = results['img_path']
        modality = int(results['modality'])
        flag = cv2.IMREAD_COLOR if modality == OPTICAL \
            else cv2.IMREAD_UNCHANGED
        img = cv2.imread(path, flag)
        if img is None:
            raise OSError(f'cannot read image {path}')
        if modality == SAR:
            img = self._sar_to_uint8(img, path)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    @staticmethod
    def _sar_to_uint8(img: np.ndarray, path: str) -> np.ndarray:
        if img.ndim == 3 and img.shape[2] == 1:
            img = img[..., 0]
        if img.ndim == 3:
            if img.dtype != np.uint8 or img.shape[2] != 3:
                raise ValueError(
                    f'{path}: SAR chip must be single-band (or 3-channel '
                    f'uint8), got {img.shape[2]} bands of {img.dtype}')
            return img
        if img.dtype != np.uint8:
            # float32 arithmetic, truncation to uint8: the release's
            # sar32bit2RGB (float64 would differ by 1 on some pixels).
            img = img.astype(np.float32)
            if not np.isfinite(img).all():
                raise ValueError(f'{path}: SAR chip has NaN/inf values')
            peak = img.max()
            if peak <= 0:
                raise ValueError(f'{path}: SAR chip maximum is {peak}, '
                                 'cannot scale by it')
            img = (img / peak * np.float32(255)).astype(np.uint8)
        return np.repeat(img[..., None], 3, axis=2)


@TRANSFORMS.register_module()
class ShipSizeVector(BaseTransform):
    """TransOSS ship-size vector from the chip size before resizing.

    With (w, h) the chip size in pixels times the modality's pixel size
    (metres), the vector is::

        [(w / size_norm[0] - mean[0]) / std[0],
         (h / size_norm[1] - mean[1]) / std[1],
         h / w]

    The defaults are the released TransOSS constants for HOSS.

    Required keys: ``ori_shape`` (h, w), ``modality``.
    Added keys: ``ship_size`` (np.ndarray, shape (3,), float32).

    Args:
        optical_gsd (float): Optical pixel size in metres. Defaults to 0.75.
        sar_gsd (float): SAR pixel size in metres. Defaults to 1.0.
        size_norm (tuple[float]): Width, height normalisers (m).
        mean (tuple[float]): Means of the normalised width, height.
        std (tuple[float]): Stds of the normalised width, height.
    """

    def __init__(self,
                 optical_gsd: float = 0.75,
                 sar_gsd: float = 1.0,
                 size_norm: Tuple[float, float] = (93., 427.),
                 mean: Tuple[float, float] = (0.434, 0.461),
                 std: Tuple[float, float] = (0.031, 0.031)) -> None:
        self.gsd = {OPTICAL: optical_gsd, SAR: sar_gsd}
        self.size_norm = size_norm
        self.mean = mean
        self.std = std

    def transform(self, results: dict) -> dict:
        h_px, w_px = results['ori_shape'][:2]
        gsd = self.gsd[int(results['modality'])]
        w, h = w_px * gsd, h_px * gsd
        results['ship_size'] = np.array([
            (w / self.size_norm[0] - self.mean[0]) / self.std[0],
            (h / self.size_norm[1] - self.mean[1]) / self.std[1],
            h / w,
        ], dtype=np.float32)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(gsd={self.gsd}, '
                f'size_norm={self.size_norm}, mean={self.mean}, '
                f'std={self.std})')


@TRANSFORMS.register_module()
class RandomPadCrop(BaseTransform):
    """Zero-pad every side by ``padding`` and crop back to the input size.

    Equivalent to a random translation by up to ``padding`` pixels in each
    direction with zero fill (the ReID "Pad 10 + RandomCrop" augmentation).

    Required keys: ``img``. Modified keys: ``img``.

    Args:
        padding (int): Pixels added on each side. Defaults to 10.
        pad_val (int): Fill value. Defaults to 0.
    """

    def __init__(self, padding: int = 10, pad_val: int = 0) -> None:
        if padding < 0:
            raise ValueError(f'padding must be >= 0, got {padding}')
        self.padding = padding
        self.pad_val = pad_val

    @cache_randomness
    def _offset(self) -> Tuple[int, int]:
        return (random.randint(0, 2 * self.padding),
                random.randint(0, 2 * self.padding))

    def transform(self, results: dict) -> dict:
        img = results['img']
        h, w = img.shape[:2]
        p = self.padding
        padded = cv2.copyMakeBorder(img, p, p, p, p, cv2.BORDER_CONSTANT,
                                    value=[self.pad_val] * 4)
        if padded.ndim < img.ndim:  # cv2 drops a trailing band of 1
            padded = padded[..., None]
        dy, dx = self._offset()
        results['img'] = padded[dy:dy + h, dx:dx + w]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(padding={self.padding}, '
                f'pad_val={self.pad_val})')
