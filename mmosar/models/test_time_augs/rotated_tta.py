"""Test-time augmentation for rotated-box (and paired optical-SAR) detectors.

mmdet's ``DetTTAModel`` maps the predictions of flipped views back with
``bbox_flip``, which only knows ``(x1, y1, x2, y2)`` boxes (it asserts on
the 5 columns of a rotated box). :class:`RotatedDetTTAModel` maps
``(cx, cy, w, h, t)`` boxes back with :meth:`RotatedBoxes.rotate_` (views
made by :class:`Rotate`) and :meth:`RotatedBoxes.flip_`, and merges the
views with rotated NMS. A paired sample is one multi-band image, so the
flips and rotations of the TTA pipeline move the optical and SAR bands
together and one mapping back serves both.
"""
from typing import List, Optional, Tuple, Union

import torch
from mmdet.models.test_time_augs import DetTTAModel
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import BaseBoxes
from mmengine.config import ConfigDict
from torch import Tensor

from mmosar.registry import MODELS
from mmosar.structures.bbox import RotatedBoxes


@MODELS.register_module()
class RotatedDetTTAModel(DetTTAModel):
    """Merges flipped, rotated or rescaled views of rotated-box detections.

    Each view's ``pred_instances.bboxes`` (an ``(n, 5)`` tensor or
    :class:`RotatedBoxes`, already rescaled to the original image by the
    detector) is rotated back about the image centre when the view was
    rotated (``rotate_angle`` metainfo of :class:`Rotate`: add it to
    ``PackDetInputs``' ``meta_keys``), then flipped back when the view was
    flipped (``flip`` / ``flip_direction``: horizontal, vertical or
    diagonal, i.e. a 180 degree rotation). Undoing the rotation first
    assumes the pipeline flips before it rotates. Then all views are merged by
    class-wise NMS (``tta_cfg.nms``, e.g. ``dict(type='nms_rotated',
    iou_threshold=0.5)``) and cut to ``tta_cfg.max_per_img``. The merged
    sample keeps the metainfo and ground truth of an unflipped, unrotated
    view when there is one (mmdet keeps the first view's), so a metric that
    reads the ground truth from the samples sees it in the original frame
    as long as the TTA pipeline loads annotations after its flips.

    Args:
        tta_cfg (dict): ``nms`` and ``max_per_img``.
        **kwargs: ``module`` (the detector) and ``data_preprocessor`` of
            :class:`mmengine.model.BaseTTAModel`.
    """

    def __init__(self, tta_cfg: Optional[dict] = None, **kwargs) -> None:
        # mmdet reads tta_cfg.nms as attributes: accept plain dicts too
        super().__init__(
            tta_cfg=None if tta_cfg is None else ConfigDict(tta_cfg),
            **kwargs)

    def merge_aug_bboxes(
        self, aug_bboxes: List[Union[Tensor, BaseBoxes]],
        aug_scores: Optional[List[Tensor]], img_metas: List[dict]
    ) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        """Rotate and flip every view's boxes back and concatenate them.

        Args:
            aug_bboxes (list): per view, ``(n_i, 5)`` boxes in the original
                image's pixels (flipped frame for flipped views).
            aug_scores (list[Tensor], optional): per view, ``(n_i,)``.
            img_metas (list[dict]): per view, with ``ori_shape``, ``flip``
                and ``flip_direction`` (and optionally ``rotate_angle``).

        Returns:
            Tensor or tuple: ``(sum n_i, 5)`` boxes in the original frame
            (and the ``(sum n_i,)`` scores).
        """
        recovered = []
        for bboxes, meta in zip(aug_bboxes, img_metas):
            if isinstance(bboxes, BaseBoxes):
                bboxes = bboxes.tensor
            if bboxes.dim() != 2 or bboxes.shape[-1] != 5:
                raise ValueError(
                    'RotatedDetTTAModel merges (n, 5) rotated boxes, got '
                    f'pred_instances.bboxes of shape {tuple(bboxes.shape)} '
                    f'for {meta.get("img_path", "an image")}; use mmdet\'s '
                    'DetTTAModel for horizontal boxes.')
            boxes = RotatedBoxes(bboxes, clone=True)
            height, width = meta['ori_shape'][:2]
            if meta.get('rotate_angle'):
                boxes.rotate_((width / 2, height / 2), -meta['rotate_angle'])
            if meta.get('flip', False):
                boxes.flip_((height, width), meta['flip_direction'])
            recovered.append(boxes.tensor)
        bboxes = torch.cat(recovered, dim=0)
        if aug_scores is None:
            return bboxes
        return bboxes, torch.cat(aug_scores, dim=0)

    def _merge_single_sample(
            self, data_samples: List[DetDataSample]) -> DetDataSample:
        """Merge the views of one image; an untransformed view goes
        first (its metainfo and ground truth are kept)."""
        views = sorted(
            data_samples,
            key=lambda s: (bool(s.metainfo.get('flip', False)),
                           bool(s.metainfo.get('rotate_angle', 0))))
        return super()._merge_single_sample(views)
