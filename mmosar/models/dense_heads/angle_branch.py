"""Helpers shared by point-based rotated heads with an angle branch."""
from typing import List, Sequence

import torch
from mmdet.structures.bbox import get_box_tensor
from mmengine.structures import InstanceData
from torch import Tensor

from mmosar.structures.bbox import RotatedBoxes


def cat_decoded_angles(angle_coder, bbox_preds: Sequence[Tensor],
                       angle_preds: Sequence[Tensor]) -> List[Tensor]:
    """Per level ``(B, 4 + 1, H, W)`` maps: the distances followed by the
    angle decoded from its code by ``angle_coder``.

    Args:
        angle_coder: Angle coder (``decode(x, keepdim=True)`` on
            ``(..., encode_size)``).
        bbox_preds (Sequence[Tensor]): Per level (B, 4, H, W).
        angle_preds (Sequence[Tensor]): Per level (B, encode_size, H, W).

    Returns:
        list[Tensor]: Per level (B, 5, H, W).
    """
    maps = []
    for bbox_pred, angle_pred in zip(bbox_preds, angle_preds):
        angle = angle_coder.decode(
            angle_pred.permute(0, 2, 3, 1), keepdim=True)
        maps.append(
            torch.cat([bbox_pred, angle.permute(0, 3, 1, 2)],
                      dim=1))
    return maps


def as_rotated_results(results: List[InstanceData]) -> List[InstanceData]:
    """Wrap each result's ``bboxes`` as :class:`RotatedBoxes` (in place)."""
    for result in results:
        if not isinstance(result.bboxes, RotatedBoxes):
            result.bboxes = RotatedBoxes(get_box_tensor(result.bboxes))
    return results
