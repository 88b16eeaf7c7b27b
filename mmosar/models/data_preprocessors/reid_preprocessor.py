"""Data preprocessor of the ReID models: normalisation, then random erasing
in the normalised space (timm ``RandomErasing(mode='pixel')``)."""
import math
import random
from typing import Optional, Tuple

import torch
from mmengine.model import ImgDataPreprocessor

from mmosar.registry import MODELS


class PixelRandomErasing:
    """Erase one rectangle of a normalised image with N(0, 1) noise.

    timm's ``RandomErasing(probability=prob, mode='pixel', max_count=1)``,
    as the released TransOSS applies it after ``Normalize``: with
    probability ``prob``, up to ``max_attempts`` tries draw an area fraction
    ``a ~ U(area_range)`` and an aspect ratio ``r = exp(U(log aspect_range))``;
    the rectangle is ``h = round(sqrt(a H W r))`` by ``w = round(sqrt(a H W /
    r))``, placed uniformly, if ``h < H`` and ``w < W``; its values (every
    channel) are replaced by standard normal noise.

    Args:
        prob (float): Probability of erasing an image. Defaults to 0.5.
        area_range (tuple[float]): Area fraction range.
        aspect_range (tuple[float]): Aspect ratio (h / w) range.
        max_attempts (int): Tries to fit a rectangle. Defaults to 10.
    """

    def __init__(self,
                 prob: float = 0.5,
                 area_range: Tuple[float, float] = (0.02, 1 / 3),
                 aspect_range: Tuple[float, float] = (0.3, 1 / 0.3),
                 max_attempts: int = 10) -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        self.prob = prob
        self.area_range = tuple(area_range)
        self.log_aspect = (math.log(aspect_range[0]),
                           math.log(aspect_range[1]))
        self.max_attempts = max_attempts

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        """Erase in place and return ``img`` (C, H, W), normalised."""
        if random.random() >= self.prob:
            return img
        chans, img_h, img_w = img.shape
        for _ in range(self.max_attempts):
            area = img_h * img_w * random.uniform(*self.area_range)
            aspect = math.exp(random.uniform(*self.log_aspect))
            h = int(round(math.sqrt(area * aspect)))
            w = int(round(math.sqrt(area / aspect)))
            if w < img_w and h < img_h:
                top = random.randint(0, img_h - h)
                left = random.randint(0, img_w - w)
                img[:, top:top + h, left:left + w] = torch.randn(
                    (chans, h, w), dtype=img.dtype, device=img.device)
                break
        return img

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(prob={self.prob}, '
                f'area_range={self.area_range})')


@MODELS.register_module()
class ReIDDataPreprocessor(ImgDataPreprocessor):
    """mmengine's ``ImgDataPreprocessor`` plus random erasing in training.

    The erasing acts on each normalised image, as the released TransOSS
    pipeline (``ToTensor``, ``Normalize``, then timm ``RandomErasing``).

    Args:
        erasing (dict, optional): Arguments of :class:`PixelRandomErasing`;
            None for no erasing.
        **kwargs: Arguments of ``ImgDataPreprocessor`` (mean, std,
            bgr_to_rgb, ...).
    """

    def __init__(self, erasing: Optional[dict] = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.erasing = PixelRandomErasing(**erasing) \
            if erasing is not None else None

    def forward(self, data: dict, training: bool = False) -> dict:
        """Normalise (and pad / stack); erase when ``training``."""
        data = super().forward(data, training)
        if training and self.erasing is not None:
            for img in data['inputs']:
                self.erasing(img)
        return data
