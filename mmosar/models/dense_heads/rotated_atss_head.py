"""ATSS head for rotated boxes (mmrotate 1.x ``RotatedATSSHead``)."""
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
from mmdet.models.dense_heads import ATSSHead
from mmdet.models.task_modules.prior_generators import anchor_inside_flags
from mmdet.models.utils import images_to_levels, multi_apply, unmap
from mmdet.structures.bbox import cat_boxes, get_box_tensor
from mmdet.utils import InstanceList, OptInstanceList
from mmengine.structures import InstanceData
from torch import Tensor

from mmosar.registry import MODELS
from mmosar.structures.bbox import rbox2hbox

from .angle_branch import as_rotated_results


@MODELS.register_module()
class RotatedATSSHead(ATSSHead):
    """ATSS (Zhang et al., CVPR 2020) on rotated anchors.

    mmdet's :class:`~mmdet.models.dense_heads.ATSSHead` (towers, scales,
    centerness branch, adaptive training sample selection) with rotated
    anchors (``FakeRotatedAnchorGenerator``), ``encode_size`` regression
    channels per anchor (5 for ``DeltaXYWHTRBBoxCoder``), a rotated
    assigner (``RotatedATSSAssigner`` with ``RBboxOverlaps2D``) and rotated
    NMS at test time. The box loss compares the decoded rotated predictions
    with the ground-truth boxes (``reg_decoded_bbox=True``, mmdet's ATSS
    default), e.g. ``RotatedIoULoss``, weighted by the centerness target.

    The centerness target of a positive anchor with centre ``(x, y)`` uses
    the axis-aligned hull ``(x1, y1, x2, y2)`` of its ground-truth box:
    ``sqrt(min(l, r) / max(l, r) * min(t, b) / max(t, b))`` with
    ``l = x - x1``, ``r = x2 - x``, ``t = y - y1``, ``b = y2 - y``
    (as mmrotate).

    Parameter names are those of mmdet's ATSSHead (``atss_cls``,
    ``atss_reg``, ``atss_centerness``, ``scales``), as in mmrotate 1.x.
    Arguments: those of mmdet's ``ATSSHead``.
    """

    def _init_layers(self) -> None:
        """mmdet's ATSS layers with ``encode_size`` regression outputs per
        anchor."""
        super()._init_layers()
        self.atss_reg = nn.Conv2d(
            self.feat_channels,
            self.num_base_priors * self.bbox_coder.encode_size,
            self.pred_kernel_size,
            padding=self.pred_kernel_size // 2)

    def loss_by_feat_single(self, anchors: Tensor, cls_score: Tensor,
                            bbox_pred: Tensor, centerness: Tensor,
                            labels: Tensor, label_weights: Tensor,
                            bbox_targets: Tensor, avg_factor: float) -> tuple:
        """Losses of one level.

        Args:
            anchors (Tensor): (B, A_l, 5) anchors.
            cls_score (Tensor): (B, A * num_classes, H, W).
            bbox_pred (Tensor): (B, A * 5, H, W) deltas.
            centerness (Tensor): (B, A, H, W).
            labels (Tensor): (B, A_l).
            label_weights (Tensor): (B, A_l).
            bbox_targets (Tensor): (B, A_l, 5) ground-truth boxes.
            avg_factor (float): Normaliser of the classification and
                centerness losses.

        Returns:
            tuple: ``loss_cls``, ``loss_bbox`` (summed, normalised later by
            the summed centerness targets), ``loss_centerness`` and the sum
            of the centerness targets.
        """
        dim = self.bbox_coder.encode_size
        anchors = anchors.reshape(-1, dim)
        cls_score = cls_score.permute(0, 2, 3, 1).reshape(
            -1, self.cls_out_channels).contiguous()
        bbox_pred = bbox_pred.permute(0, 2, 3, 1).reshape(-1, dim)
        centerness = centerness.permute(0, 2, 3, 1).reshape(-1)
        bbox_targets = bbox_targets.reshape(-1, dim)
        labels = labels.reshape(-1)
        label_weights = label_weights.reshape(-1)

        loss_cls = self.loss_cls(
            cls_score, labels, label_weights, avg_factor=avg_factor)

        pos_inds = ((labels >= 0) & (labels < self.num_classes)
                    ).nonzero().squeeze(1)
        if len(pos_inds) == 0:
            return (loss_cls, bbox_pred.sum() * 0, centerness.sum() * 0,
                    bbox_targets.new_tensor(0.))
        pos_targets = bbox_targets[pos_inds]
        pos_anchors = anchors[pos_inds]
        centerness_targets = self.centerness_target(pos_anchors, pos_targets)
        pos_decoded = get_box_tensor(
            self.bbox_coder.decode(pos_anchors, bbox_pred[pos_inds]))
        loss_bbox = self.loss_bbox(
            pos_decoded, pos_targets, weight=centerness_targets,
            avg_factor=1.0)
        loss_centerness = self.loss_centerness(
            centerness[pos_inds], centerness_targets, avg_factor=avg_factor)
        return loss_cls, loss_bbox, loss_centerness, centerness_targets.sum()

    def centerness_target(self, anchors: Tensor, gts: Tensor) -> Tensor:
        """Centerness of positive anchors (N, 5) w.r.t. the axis-aligned
        hull of their ground-truth boxes (N, 5); shape (N,)."""
        hull = rbox2hbox(gts)
        cx, cy = anchors[:, 0], anchors[:, 1]
        left_right = torch.stack([cx - hull[:, 0], hull[:, 2] - cx], dim=1)
        top_bottom = torch.stack([cy - hull[:, 1], hull[:, 3] - cy], dim=1)
        centerness = torch.sqrt(
            (left_right.min(dim=-1)[0] / left_right.max(dim=-1)[0]) *
            (top_bottom.min(dim=-1)[0] / top_bottom.max(dim=-1)[0]))
        if torch.isnan(centerness).any():
            raise RuntimeError('RotatedATSSHead: NaN centerness target (a '
                               'positive anchor centre outside its box).')
        return centerness

    def _get_targets_single(self,
                            flat_anchors: Tensor,
                            valid_flags: Tensor,
                            num_level_anchors: List[int],
                            gt_instances: InstanceData,
                            img_meta: dict,
                            gt_instances_ignore: Optional[InstanceData] = None,
                            unmap_outputs: bool = True) -> tuple:
        """Targets of one image (mmdet's ATSS targets, rotated box tensors).

        Returns:
            tuple: anchors (A, 5), labels (A,), label weights (A,), box
            targets (A, 5), box weights (A, 5), positive and negative
            indices and the sampling result.
        """
        inside_flags = anchor_inside_flags(flat_anchors, valid_flags,
                                           img_meta['img_shape'][:2],
                                           self.train_cfg['allowed_border'])
        if not inside_flags.any():
            raise ValueError(
                'There is no valid anchor inside the image boundary. Check '
                'the image size and anchor sizes, or set allowed_border=-1.')
        anchors = get_box_tensor(flat_anchors)[inside_flags]
        num_level_anchors_inside = self.get_num_level_anchors_inside(
            num_level_anchors, inside_flags)
        pred_instances = InstanceData(priors=anchors)
        assign_result = self.assigner.assign(pred_instances,
                                             num_level_anchors_inside,
                                             gt_instances, gt_instances_ignore)
        sampling_result = self.sampler.sample(assign_result, pred_instances,
                                              gt_instances)

        num_valid = anchors.shape[0]
        target_dim = (
            get_box_tensor(gt_instances.bboxes).size(-1)
            if self.reg_decoded_bbox else self.bbox_coder.encode_size)
        bbox_targets = anchors.new_zeros(num_valid, target_dim)
        bbox_weights = anchors.new_zeros(num_valid, target_dim)
        labels = anchors.new_full((num_valid, ),
                                  self.num_classes,
                                  dtype=torch.long)
        label_weights = anchors.new_zeros(num_valid, dtype=torch.float)

        pos_inds = sampling_result.pos_inds
        neg_inds = sampling_result.neg_inds
        if len(pos_inds) > 0:
            if self.reg_decoded_bbox:
                pos_targets = get_box_tensor(sampling_result.pos_gt_bboxes)
            else:
                pos_targets = self.bbox_coder.encode(
                    sampling_result.pos_priors,
                    sampling_result.pos_gt_bboxes)
            bbox_targets[pos_inds] = pos_targets.to(bbox_targets.dtype)
            bbox_weights[pos_inds] = 1.0
            labels[pos_inds] = sampling_result.pos_gt_labels
            pos_weight = self.train_cfg['pos_weight']
            label_weights[pos_inds] = 1.0 if pos_weight <= 0 else pos_weight
        if len(neg_inds) > 0:
            label_weights[neg_inds] = 1.0

        if unmap_outputs:
            total = flat_anchors.size(0)
            anchors = unmap(anchors, total, inside_flags)
            labels = unmap(labels, total, inside_flags, fill=self.num_classes)
            label_weights = unmap(label_weights, total, inside_flags)
            bbox_targets = unmap(bbox_targets, total, inside_flags)
            bbox_weights = unmap(bbox_weights, total, inside_flags)
        return (anchors, labels, label_weights, bbox_targets, bbox_weights,
                pos_inds, neg_inds, sampling_result)

    def get_targets(self,
                    anchor_list: List[List[Tensor]],
                    valid_flag_list: List[List[Tensor]],
                    batch_gt_instances: InstanceList,
                    batch_img_metas: List[dict],
                    batch_gt_instances_ignore: OptInstanceList = None,
                    unmap_outputs: bool = True) -> Tuple:
        """Per level anchors, labels, label weights, box targets, box
        weights and the classification normaliser (mmdet's ATSS
        ``get_targets`` on rotated anchors)."""
        num_imgs = len(batch_img_metas)
        num_level_anchors = [anchors.size(0) for anchors in anchor_list[0]]
        anchor_list = [cat_boxes(anchors) for anchors in anchor_list]
        valid_flag_list = [torch.cat(flags) for flags in valid_flag_list]
        if batch_gt_instances_ignore is None:
            batch_gt_instances_ignore = [None] * num_imgs
        (all_anchors, all_labels, all_label_weights, all_bbox_targets,
         all_bbox_weights, _, _, sampling_results) = multi_apply(
             self._get_targets_single,
             anchor_list,
             valid_flag_list,
             [num_level_anchors] * num_imgs,
             batch_gt_instances,
             batch_img_metas,
             batch_gt_instances_ignore,
             unmap_outputs=unmap_outputs)
        avg_factor = sum(result.avg_factor for result in sampling_results)
        return (images_to_levels(all_anchors, num_level_anchors),
                images_to_levels(all_labels, num_level_anchors),
                images_to_levels(all_label_weights, num_level_anchors),
                images_to_levels(all_bbox_targets, num_level_anchors),
                images_to_levels(all_bbox_weights, num_level_anchors),
                avg_factor)

    def predict_by_feat(self, *args, **kwargs) -> InstanceList:
        """mmdet's post-processing (centerness-weighted scores, rotated NMS);
        boxes come out as :class:`RotatedBoxes`."""
        return as_rotated_results(super().predict_by_feat(*args, **kwargs))
