"""Oriented RPN head of Oriented R-CNN."""
from typing import Optional

import torch
from mmcv.ops import batched_nms
from mmdet.models.dense_heads import RPNHead
from mmdet.structures.bbox import get_box_tensor, get_box_wh, scale_boxes
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData

from mmosar.registry import MODELS
from mmosar.structures.bbox import RotatedBoxes, rbox2hbox


@MODELS.register_module()
class OrientedRPNHead(RPNHead):
    """Oriented RPN (Xie et al., *Oriented R-CNN*, ICCV 2021).

    mmdet's :class:`~mmdet.models.dense_heads.RPNHead` (``rpn_conv``,
    ``rpn_cls``, ``rpn_reg``) on horizontal anchors with the 6-delta
    :class:`MidpointOffsetCoder`, so ``rpn_reg`` has ``6 * A`` channels and
    proposals are rotated boxes. Ground truth is matched to anchors by the
    IoU of its axis-aligned hull (``RBbox2HBboxOverlaps2D``). After
    decoding, proposals are filtered by ``min_bbox_size`` and suppressed per
    level by horizontal NMS on their axis-aligned hulls; the rotated boxes
    are returned (mmrotate 1.x ``OrientedRPNHead``).

    NMS runs on float32 copies of the hulls and scores (mmcv's CPU ``nms``
    kernel is float32-only); the kept proposals keep their own dtype.
    Arguments: those of mmdet's ``RPNHead``.
    """

    def _bbox_post_process(self,
                           results: InstanceData,
                           cfg: ConfigDict,
                           rescale: bool = False,
                           with_nms: bool = True,
                           img_meta: Optional[dict] = None) -> InstanceData:
        """Rescale, size-filter and horizontally-NMS the proposals.

        Returns:
            InstanceData: ``bboxes`` (:class:`RotatedBoxes`, (n, 5)),
            ``scores`` (n,) and ``labels`` (n,) zeros, at most
            ``cfg.max_per_img`` sorted by score.
        """
        if not with_nms:
            raise ValueError('OrientedRPNHead needs with_nms=True.')
        if rescale:
            scale_factor = [1 / s for s in img_meta['scale_factor']]
            results.bboxes = scale_boxes(results.bboxes, scale_factor)
        if cfg.get('min_bbox_size', -1) >= 0:
            w, h = get_box_wh(results.bboxes)
            valid = (w > cfg.min_bbox_size) & (h > cfg.min_bbox_size)
            if not valid.all():
                results = results[valid]
        if len(results) > 0:
            hulls = rbox2hbox(get_box_tensor(results.bboxes))
            _, keep = batched_nms(hulls.float(), results.scores.float(),
                                  results.level_ids, cfg.nms)
            results = results[keep][:cfg.max_per_img]
            del results.level_ids
            results.labels = results.scores.new_zeros(
                len(results), dtype=torch.long)
            return results
        empty = InstanceData()
        boxes = get_box_tensor(results.bboxes)
        empty.bboxes = RotatedBoxes(boxes.new_zeros((0, 5)))
        empty.scores = results.scores.new_zeros(0)
        empty.labels = results.scores.new_zeros(0, dtype=torch.long)
        return empty
