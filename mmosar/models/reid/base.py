"""Shared base of the modality-aware ReID models (TransOSS, pretraining)."""
from typing import List, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModel

from mmosar.registry import MODELS
from mmosar.utils.checkpoint import raise_on_incompatible_keys


class ModalityAwareEmbedder(BaseModel):
    """Model whose backbone takes images, modality ids and ship sizes.

    Reads ``modality`` (0 optical, 1 SAR) and, when the backbone has a size
    token, ``ship_size`` from each data sample's metainfo and passes them to
    the backbone (e.g. :class:`TransOSSViT`). Subclasses implement
    :meth:`loss` and :meth:`predict`. Any ``load_state_dict`` of the whole
    model is strict
    (:func:`mmosar.utils.checkpoint.raise_on_incompatible_keys`).

    Args:
        backbone (dict): Backbone config.
        data_preprocessor (dict, optional): Defaults to mmengine's
            ``ImgDataPreprocessor`` with ImageNet mean/std, BGR -> RGB.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(
                type='ImgDataPreprocessor',
                mean=[123.675, 116.28, 103.53],
                std=[58.395, 57.12, 57.375],
                bgr_to_rgb=True)
        if isinstance(data_preprocessor, dict):
            # mmosar's registry: finds mmosar's ReIDDataPreprocessor with or
            # without a default scope, and mmengine's through its parents.
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        # Loading a whole model (runner load_from / resume, tools/test.py)
        # is strict: a missing or unexpected key is an error listing them.
        self.register_load_state_dict_post_hook(raise_on_incompatible_keys)

    def extract_feat(self, inputs: torch.Tensor,
                     data_samples: Sequence) -> Tuple[torch.Tensor]:
        """Backbone features.

        Args:
            inputs (torch.Tensor): Images, shape (B, 3, H, W).
            data_samples (Sequence[DataSample]): Per-image metainfo with
                ``modality`` (and ``ship_size`` for a size token).

        Returns:
            tuple[torch.Tensor]: Backbone outputs, the last of shape (B, C).
        """
        if data_samples is None or len(data_samples) != inputs.shape[0]:
            raise ValueError('one data sample with a modality per image is '
                             'required')
        modalities = torch.as_tensor(
            [int(ds.modality) for ds in data_samples],
            dtype=torch.long,
            device=inputs.device)
        ship_sizes = None
        if getattr(self.backbone, 'with_size_token', False):
            ship_sizes = torch.as_tensor(
                [list(ds.ship_size) for ds in data_samples],
                dtype=inputs.dtype,
                device=inputs.device)
        return self.backbone(inputs, modalities, ship_sizes)

    def forward(self,
                inputs: torch.Tensor,
                data_samples: Optional[List] = None,
                mode: str = 'tensor'
                ) -> Union[dict, list, Tuple[torch.Tensor]]:
        """Dispatch to ``loss``, ``predict`` or the raw features."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.extract_feat(inputs, data_samples)
        raise RuntimeError(f'Invalid mode "{mode}".')

    def loss(self, inputs: torch.Tensor, data_samples: List) -> dict:
        raise NotImplementedError

    def predict(self, inputs: torch.Tensor, data_samples: List) -> List:
        raise NotImplementedError
