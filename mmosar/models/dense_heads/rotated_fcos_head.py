"""FCOS head with an angle branch (rotated FCOS)."""
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import Scale
from mmdet.models.dense_heads import FCOSHead
from mmdet.models.dense_heads.anchor_free_head import AnchorFreeHead
from mmdet.models.utils import multi_apply
from mmdet.structures.bbox import get_box_tensor
from mmdet.utils import (
    ConfigType,
    InstanceList,
    OptConfigType,
    OptInstanceList,
    reduce_mean,
)
from mmengine.structures import InstanceData
from torch import Tensor

from mmosar.registry import MODELS, TASK_UTILS
from mmosar.structures.bbox import RotatedBoxes

INF = 1e8


@MODELS.register_module()
class RotatedFCOSHead(FCOSHead):
    """Rotated FCOS: per-point distances to the 4 sides of a rotated box, its
    angle, centerness and class scores.

    On top of mmdet's :class:`~mmdet.models.dense_heads.FCOSHead` (same
    towers, scales, regress ranges, centerness) a 3x3 conv on the regression
    tower predicts the angle. Targets are measured in each ground-truth box's
    own frame with :class:`DistanceAnglePointCoder`: a point is positive when
    it lies inside the rotated box (or, with ``center_sampling``, within
    ``center_sample_radius * stride`` of its centre along both box axes), and
    its distance targets ``(left, top, right, bottom)`` are distances to the
    rotated sides.

    Two box losses are available:

    * ``separate_angle=False``: ``loss_bbox`` compares the decoded rotated
      boxes (distances + angle), e.g. ``GDLoss`` (GWD/KLD) or ``ProbIoULoss``.
    * ``separate_angle=True``: ``loss_bbox`` compares the boxes as if both had
      the target angle (an axis-aligned IoU loss on the distances, decoded by
      ``h_bbox_coder``), and ``loss_angle`` regresses the angle on its own.

    Args:
        num_classes (int): Number of object classes.
        in_channels (int): Channels of the input feature maps.
        angle_version (str): Angle convention of the targets and outputs.
            Defaults to ``'le90'``.
        separate_angle (bool): Use the distance loss + angle loss form.
            Defaults to False.
        scale_angle (bool): Multiply the angle output by a learnable scalar.
            Defaults to True.
        bbox_coder (dict): Rotated point coder. Defaults to
            ``DistanceAnglePointCoder`` in ``angle_version``.
        h_bbox_coder (dict): Axis-aligned point coder for
            ``separate_angle``. Defaults to ``DistancePointBBoxCoder``.
        loss_bbox (dict): Box loss. Defaults to a KLD ``GDLoss`` (the CUDA-only
            rotated IoU loss of mmrotate is not provided).
        loss_angle (dict, optional): Angle loss, required when
            ``separate_angle``.
        **kwargs: Other arguments of ``FCOSHead``.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 angle_version: str = 'le90',
                 separate_angle: bool = False,
                 scale_angle: bool = True,
                 bbox_coder: ConfigType = dict(
                     type='DistanceAnglePointCoder', angle_version='le90'),
                 h_bbox_coder: ConfigType = dict(
                     type='DistancePointBBoxCoder'),
                 loss_bbox: ConfigType = dict(
                     type='GDLoss', loss_type='kld', fun='log1p', tau=1.0,
                     loss_weight=1.0),
                 loss_angle: OptConfigType = None,
                 **kwargs) -> None:
        self.angle_version = angle_version
        self.separate_angle = separate_angle
        self.use_scale_angle = scale_angle
        super().__init__(
            num_classes,
            in_channels,
            bbox_coder=bbox_coder,
            loss_bbox=loss_bbox,
            **kwargs)
        if self.bbox_coder.encode_size != 5:
            raise ValueError('RotatedFCOSHead needs a rotated point coder '
                             '(encode_size 5), got '
                             f'{type(self.bbox_coder).__name__}.')
        if separate_angle and loss_angle is None:
            raise ValueError('separate_angle=True needs a loss_angle config.')
        self.h_bbox_coder = TASK_UTILS.build(h_bbox_coder)
        self.loss_angle = MODELS.build(loss_angle) if separate_angle else None

    def _init_layers(self) -> None:
        """FCOS layers plus the angle conv (and its scale)."""
        super()._init_layers()
        self.conv_angle = nn.Conv2d(self.feat_channels, 1, 3, padding=1)
        if self.use_scale_angle:
            self.scale_angle = Scale(1.0)

    def forward(
        self, x: Tuple[Tensor]
    ) -> Tuple[List[Tensor], List[Tensor], List[Tensor], List[Tensor]]:
        """Run the head on every level.

        Args:
            x (tuple[Tensor]): FPN features, each (B, C, H_l, W_l).

        Returns:
            tuple: Per level lists of class scores (B, num_classes, H, W),
            distances (B, 4, H, W), angles (B, 1, H, W) and centerness
            (B, 1, H, W).
        """
        return multi_apply(self.forward_single, x, self.scales, self.strides)

    def forward_single(self, x: Tensor, scale: Scale,
                       stride: int) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """Outputs of one level: scores, distances, angle, centerness."""
        cls_score, bbox_pred, cls_feat, reg_feat = \
            AnchorFreeHead.forward_single(self, x)
        centerness = self.conv_centerness(
            reg_feat if self.centerness_on_reg else cls_feat)
        bbox_pred = scale(bbox_pred).float()
        if self.norm_on_bbox:
            bbox_pred = bbox_pred.clamp(min=0)
            if not self.training:
                bbox_pred = bbox_pred * stride
        else:
            bbox_pred = bbox_pred.exp()
        angle_pred = self.conv_angle(reg_feat)
        if self.use_scale_angle:
            angle_pred = self.scale_angle(angle_pred)
        return cls_score, bbox_pred, angle_pred.float(), centerness

    def loss_by_feat(
        self,
        cls_scores: List[Tensor],
        bbox_preds: List[Tensor],
        angle_preds: List[Tensor],
        centernesses: List[Tensor],
        batch_gt_instances: InstanceList,
        batch_img_metas: List[dict],
        batch_gt_instances_ignore: OptInstanceList = None
    ) -> Dict[str, Tensor]:
        """Classification, box, centerness (and angle) losses.

        Args:
            cls_scores (list[Tensor]): Per level (B, num_classes, H, W).
            bbox_preds (list[Tensor]): Per level (B, 4, H, W) distances.
            angle_preds (list[Tensor]): Per level (B, 1, H, W) angles.
            centernesses (list[Tensor]): Per level (B, 1, H, W).
            batch_gt_instances (list[InstanceData]): ``bboxes``
                (RotatedBoxes) and ``labels`` per image.
            batch_img_metas (list[dict]): Image metas (unused).
            batch_gt_instances_ignore: Unused.

        Returns:
            dict[str, Tensor]: ``loss_cls``, ``loss_bbox``,
            ``loss_centerness`` and, with ``separate_angle``, ``loss_angle``.
        """
        featmap_sizes = [featmap.size()[-2:] for featmap in cls_scores]
        all_level_points = self.prior_generator.grid_priors(
            featmap_sizes,
            dtype=bbox_preds[0].dtype,
            device=bbox_preds[0].device)
        labels, bbox_targets, angle_targets = self.get_targets(
            all_level_points, batch_gt_instances)

        num_imgs = cls_scores[0].size(0)

        def flatten(maps: List[Tensor], channels: int) -> Tensor:
            return torch.cat([
                m.permute(0, 2, 3, 1).reshape(-1, channels) for m in maps
            ])

        flat_cls_scores = flatten(cls_scores, self.cls_out_channels)
        flat_bbox_preds = flatten(bbox_preds, 4)
        flat_angle_preds = flatten(angle_preds, 1)
        flat_centerness = flatten(centernesses, 1).reshape(-1)
        flat_labels = torch.cat(labels)
        flat_bbox_targets = torch.cat(bbox_targets)
        flat_angle_targets = torch.cat(angle_targets)
        flat_points = torch.cat(
            [points.repeat(num_imgs, 1) for points in all_level_points])

        pos_inds = ((flat_labels >= 0) & (flat_labels < self.num_classes)
                    ).nonzero().reshape(-1)
        num_pos = max(
            reduce_mean(flat_cls_scores.new_tensor(float(len(pos_inds)))),
            1.0)
        losses = dict(
            loss_cls=self.loss_cls(
                flat_cls_scores, flat_labels, avg_factor=num_pos))

        pos_bbox_preds = flat_bbox_preds[pos_inds]
        pos_angle_preds = flat_angle_preds[pos_inds]
        pos_centerness = flat_centerness[pos_inds]
        pos_bbox_targets = flat_bbox_targets[pos_inds]
        pos_angle_targets = flat_angle_targets[pos_inds]
        pos_centerness_targets = self.centerness_target(pos_bbox_targets)
        centerness_denorm = max(
            reduce_mean(pos_centerness_targets.sum().detach()), 1e-6)

        if len(pos_inds) == 0:
            zero = pos_bbox_preds.sum() + pos_angle_preds.sum()
            losses['loss_bbox'] = zero
            losses['loss_centerness'] = pos_centerness.sum()
            if self.separate_angle:
                losses['loss_angle'] = zero
            return losses

        pos_points = flat_points[pos_inds]
        if self.separate_angle:
            coder = self.h_bbox_coder
            pred_boxes = coder.decode(pos_points, pos_bbox_preds)
            target_boxes = coder.decode(pos_points, pos_bbox_targets)
            losses['loss_angle'] = self.loss_angle(
                pos_angle_preds, pos_angle_targets, avg_factor=num_pos)
        else:
            pred_boxes = self.bbox_coder.decode(
                pos_points, torch.cat([pos_bbox_preds, pos_angle_preds], -1))
            target_boxes = self.bbox_coder.decode(
                pos_points,
                torch.cat([pos_bbox_targets, pos_angle_targets], -1))
        losses['loss_bbox'] = self.loss_bbox(
            get_box_tensor(pred_boxes),
            get_box_tensor(target_boxes),
            weight=pos_centerness_targets,
            avg_factor=centerness_denorm)
        losses['loss_centerness'] = self.loss_centerness(
            pos_centerness, pos_centerness_targets, avg_factor=num_pos)
        return losses

    def get_targets(
        self, points: List[Tensor], batch_gt_instances: InstanceList
    ) -> Tuple[List[Tensor], List[Tensor], List[Tensor]]:
        """Labels, distance and angle targets of all points, per level.

        Args:
            points (list[Tensor]): Per level points, each (N_l, 2).
            batch_gt_instances (list[InstanceData]): Per image ground truth.

        Returns:
            tuple[list[Tensor]]: Per level (images concatenated) labels
            (B * N_l,), distances (B * N_l, 4) (divided by the stride with
            ``norm_on_bbox``) and angles (B * N_l, 1).
        """
        if len(points) != len(self.regress_ranges):
            raise ValueError(f'{len(points)} point levels but '
                             f'{len(self.regress_ranges)} regress ranges.')
        num_points = [p.size(0) for p in points]
        regress_ranges = torch.cat([
            p.new_tensor(r)[None].expand(p.size(0), 2)
            for p, r in zip(points, self.regress_ranges)
        ])
        strides = torch.cat([
            p.new_full((p.size(0), ), float(s))
            for p, s in zip(points, self.strides)
        ])
        per_image = multi_apply(
            self._get_targets_single,
            batch_gt_instances,
            points=torch.cat(points),
            regress_ranges=regress_ranges,
            strides=strides)

        level_targets = []
        for targets in per_image:  # labels, distances, angles
            split = [t.split(num_points, 0) for t in targets]
            level_targets.append([
                torch.cat([t[lvl] for t in split])
                for lvl in range(len(points))
            ])
        labels, bbox_targets, angle_targets = level_targets
        if self.norm_on_bbox:
            bbox_targets = [
                t / stride for t, stride in zip(bbox_targets, self.strides)
            ]
        return labels, bbox_targets, angle_targets

    def _get_targets_single(self, gt_instances: InstanceData, points: Tensor,
                            regress_ranges: Tensor,
                            strides: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Targets of one image.

        Args:
            gt_instances (InstanceData): ``bboxes`` (G, 5) and ``labels`` (G,).
            points (Tensor): All points, (P, 2).
            regress_ranges (Tensor): (P, 2) regress range of each point.
            strides (Tensor): (P,) stride of each point's level.

        Returns:
            tuple[Tensor]: labels (P,), distances (P, 4), angles (P, 1).
        """
        num_points = points.size(0)
        gt_bboxes = get_box_tensor(gt_instances.bboxes)
        gt_labels = gt_instances.labels
        num_gts = gt_bboxes.size(0)
        if num_gts == 0:
            return (gt_labels.new_full((num_points, ), self.num_classes),
                    points.new_zeros((num_points, 4)),
                    points.new_zeros((num_points, 1)))

        codes = self.bbox_coder.encode(
            points[:, None, :].expand(num_points, num_gts, 2),
            gt_bboxes[None].expand(num_points, num_gts, 5))
        distances, angles = codes[..., :4], codes[..., 4:]

        inside_gt = distances.min(dim=-1)[0] > 0
        if self.center_sampling:
            # offset of the point from the box centre, in the box frame
            off_x = (distances[..., 0] - distances[..., 2]).abs() / 2
            off_y = (distances[..., 1] - distances[..., 3]).abs() / 2
            radius = (strides * self.center_sample_radius)[:, None]
            inside_gt = inside_gt & (off_x < radius) & (off_y < radius)

        max_distance = distances.max(dim=-1)[0]
        in_range = ((max_distance >= regress_ranges[:, None, 0])
                    & (max_distance <= regress_ranges[:, None, 1]))

        areas = (gt_bboxes[:, 2] * gt_bboxes[:, 3])[None].repeat(
            num_points, 1)
        areas[~inside_gt] = INF
        areas[~in_range] = INF
        min_area, min_area_inds = areas.min(dim=1)

        labels = gt_labels[min_area_inds]
        labels[min_area == INF] = self.num_classes
        index = torch.arange(num_points, device=points.device)
        return (labels, distances[index, min_area_inds],
                angles[index, min_area_inds])

    def predict_by_feat(self,
                        cls_scores: List[Tensor],
                        bbox_preds: List[Tensor],
                        angle_preds: List[Tensor],
                        centernesses: List[Tensor],
                        batch_img_metas: Optional[List[dict]] = None,
                        cfg: OptConfigType = None,
                        rescale: bool = False,
                        with_nms: bool = True) -> InstanceList:
        """Decode rotated boxes, weight scores by centerness, rotated NMS.

        Returns:
            list[InstanceData]: Per image ``bboxes`` (:class:`RotatedBoxes`),
            ``scores`` and ``labels``.
        """
        box_preds = [torch.cat([b, a], dim=1)
                     for b, a in zip(bbox_preds, angle_preds)]
        results = super().predict_by_feat(
            cls_scores,
            box_preds,
            score_factors=centernesses,
            batch_img_metas=batch_img_metas,
            cfg=cfg,
            rescale=rescale,
            with_nms=with_nms)
        for result in results:
            if not isinstance(result.bboxes, RotatedBoxes):
                result.bboxes = RotatedBoxes(get_box_tensor(result.bboxes))
        return results
