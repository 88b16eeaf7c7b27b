"""Data preprocessor for retrieval batches of single images or image pairs."""
from typing import Optional, Sequence

import torch
from mmengine.model import ImgDataPreprocessor

from mmosar.registry import MODELS


@MODELS.register_module()
class RetrievalDataPreprocessor(ImgDataPreprocessor):
    """Normalise a batch of images, or each view of a batch of pairs.

    Expects ``default_collate`` batches: ``inputs`` is a uint8 tensor
    (N, C, H, W), or, for pair items, a list of such tensors (one per view,
    e.g. ``[sar, optical]``). Each tensor is converted to float, optionally
    BGR->RGB, and normalised with ``mean``/``std``.

    Args:
        mean (Sequence[float], optional): Per-channel mean.
        std (Sequence[float], optional): Per-channel std.
        bgr_to_rgb (bool): Flip the channel order. Defaults to False.
        non_blocking (bool): Defaults to False.
    """

    def __init__(self,
                 mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None,
                 bgr_to_rgb: bool = False,
                 non_blocking: bool = False) -> None:
        super().__init__(
            mean=mean,
            std=std,
            bgr_to_rgb=bgr_to_rgb,
            non_blocking=non_blocking)

    def _normalize(self, inputs: torch.Tensor) -> torch.Tensor:
        if inputs.dim() != 4:
            raise ValueError('expected a (N, C, H, W) batch (use '
                             "collate_fn=dict(type='default_collate')), got "
                             f'shape {tuple(inputs.shape)}')
        if self._channel_conversion:
            inputs = inputs[:, [2, 1, 0]]
        inputs = inputs.float()
        if self._enable_normalize:
            inputs = (inputs - self.mean) / self.std
        return inputs

    def forward(self, data: dict, training: bool = False) -> dict:
        """Normalise ``data['inputs']``; data samples pass through."""
        data = self.cast_data(data)
        inputs = data['inputs']
        if isinstance(inputs, (list, tuple)):
            inputs = [self._normalize(view) for view in inputs]
        else:
            inputs = self._normalize(inputs)
        return dict(inputs=inputs, data_samples=data.get('data_samples'))
