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
from mmosar.structures.bbox import regularize_rboxes

from .angle_branch import as_rotated_results, cat_decoded_angles

INF = 1e8


@MODELS.register_module()
class RotatedFCOSHead(FCOSHead):
    """Rotated FCOS: per-point distances to the 4 sides of a rotated box, its
    angle, centerness and class scores (mmrotate 1.x arguments and names).

    On top of mmdet's :class:`~mmdet.models.dense_heads.FCOSHead` (same
    towers, scales, regress ranges, centerness) a 3x3 conv ``conv_angle`` on
    the regression tower predicts the angle in ``angle_coder.encode_size``
    channels, multiplied by a learnable ``scale_angle``. Targets are measured
    in each ground-truth box's own frame with :class:`DistanceAnglePointCoder`
    (boxes regularised to ``angle_version`` first): a point is positive when
    it lies inside the rotated box (with ``center_sampling``: within
    ``center_sample_radius * stride`` of its centre along both box axes), and
    its distance targets ``(left, top, right, bottom)`` are distances to the
    rotated sides.

    Box losses:

    * ``use_hbbox_loss=False``: ``loss_bbox`` compares the decoded rotated
      boxes (distances + decoded angle), e.g. ``RotatedIoULoss`` or
      ``GDLoss``; weighted by the centerness target.
    * ``use_hbbox_loss=True``: ``loss_bbox`` compares the distances decoded
      by ``h_bbox_coder`` as axis-aligned boxes (both boxes taken at the
      target angle, e.g. mmdet ``IoULoss``); ``loss_angle`` is required.

    ``loss_angle`` (if given) compares the angle branch with
    ``angle_coder.encode(angle target)`` averaged over positives, in both
    modes. At test time the angle is ``angle_coder.decode``-d, boxes are
    decoded (angle wrapped into ``angle_version``, no ``w``/``h`` swap, as
    mmrotate), scores are multiplied by the centerness, then per-class
    rotated NMS (``test_cfg.nms = dict(type='nms_rotated', ...)``).

    As in mmrotate, the distances (and, with ``scale_angle``, the angle) are
    cast to float32 by ``forward``.

    Args:
        num_classes (int): Number of object classes.
        in_channels (int): Channels of the input feature maps.
        angle_version (str): Angle convention of the targets. Defaults to
            ``'le90'``.
        use_hbbox_loss (bool): Use the axis-aligned distance loss plus
            ``loss_angle``. Defaults to False.
        scale_angle (bool): Multiply the angle output by a learnable scalar.
            Defaults to True.
        angle_coder (dict): Angle coder. Defaults to ``PseudoAngleCoder``.
        h_bbox_coder (dict): Axis-aligned point coder for
            ``use_hbbox_loss``. Defaults to mmdet ``DistancePointBBoxCoder``.
        bbox_coder (dict): Rotated point coder. Defaults to
            ``DistanceAnglePointCoder``.
        loss_cls (dict): Classification loss. Defaults to focal loss.
        loss_bbox (dict): Box loss. Defaults to ``RotatedIoULoss``.
        loss_centerness (dict): Centerness loss. Defaults to sigmoid
            cross-entropy.
        loss_angle (dict, optional): Angle loss; required with
            ``use_hbbox_loss``.
        **kwargs: Other arguments of ``FCOSHead``.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 angle_version: str = 'le90',
                 use_hbbox_loss: bool = False,
                 scale_angle: bool = True,
                 angle_coder: ConfigType = dict(type='PseudoAngleCoder'),
                 h_bbox_coder: ConfigType = dict(
                     type='mmdet.DistancePointBBoxCoder'),
                 bbox_coder: ConfigType = dict(
                     type='DistanceAnglePointCoder'),
                 loss_cls: ConfigType = dict(
                     type='mmdet.FocalLoss',
                     use_sigmoid=True,
                     gamma=2.0,
                     alpha=0.25,
                     loss_weight=1.0),
                 loss_bbox: ConfigType = dict(
                     type='RotatedIoULoss', loss_weight=1.0),
                 loss_centerness: ConfigType = dict(
                     type='mmdet.CrossEntropyLoss',
                     use_sigmoid=True,
                     loss_weight=1.0),
                 loss_angle: OptConfigType = None,
                 **kwargs) -> None:
        if 'separate_angle' in kwargs:
            raise ValueError(
                'RotatedFCOSHead: `separate_angle` is the mmrotate 0.x '
                'argument; use `use_hbbox_loss` (mmrotate 1.x) instead.')
        self.angle_version = angle_version
        self.use_hbbox_loss = use_hbbox_loss
        self.is_scale_angle = scale_angle
        self.angle_coder = TASK_UTILS.build(angle_coder)
        super().__init__(
            num_classes,
            in_channels,
            bbox_coder=bbox_coder,
            loss_cls=loss_cls,
            loss_bbox=loss_bbox,
            loss_centerness=loss_centerness,
            **kwargs)
        if self.bbox_coder.encode_size != 5:
            raise ValueError('RotatedFCOSHead needs a rotated point coder '
                             '(encode_size 5), got '
                             f'{type(self.bbox_coder).__name__}.')
        self.loss_angle = (MODELS.build(loss_angle)
                           if loss_angle is not None else None)
        if use_hbbox_loss:
            if self.loss_angle is None:
                raise ValueError(
                    'use_hbbox_loss=True needs a loss_angle config.')
            self.h_bbox_coder = TASK_UTILS.build(h_bbox_coder)

    def _init_layers(self) -> None:
        """FCOS layers plus the angle conv (and its scale)."""
        super()._init_layers()
        self.conv_angle = nn.Conv2d(
            self.feat_channels, self.angle_coder.encode_size, 3, padding=1)
        if self.is_scale_angle:
            self.scale_angle = Scale(1.0)

    def forward(
        self, x: Tuple[Tensor]
    ) -> Tuple[List[Tensor], List[Tensor], List[Tensor], List[Tensor]]:
        """Run the head on every level.

        Args:
            x (tuple[Tensor]): FPN features, each (B, C, H_l, W_l).

        Returns:
            tuple: Per level lists of class scores (B, num_classes, H, W),
            distances (B, 4, H, W), angle codes (B, encode_size, H, W) and
            centerness (B, 1, H, W).
        """
        return multi_apply(self.forward_single, x, self.scales, self.strides)

    def forward_single(self, x: Tensor, scale: Scale,
                       stride: int) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """Outputs of one level: scores, distances, angle, centerness.

        Distances are ``clamp(scale * conv, 0)`` (times the stride in eval
        mode) with ``norm_on_bbox``, else ``exp(scale * conv)``; float32.
        """
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
        if self.is_scale_angle:
            angle_pred = self.scale_angle(angle_pred).float()
        return cls_score, bbox_pred, angle_pred, centerness

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
            angle_preds (list[Tensor]): Per level (B, encode_size, H, W).
            centernesses (list[Tensor]): Per level (B, 1, H, W).
            batch_gt_instances (list[InstanceData]): ``bboxes``
                (RotatedBoxes) and ``labels`` per image.
            batch_img_metas (list[dict]): Image metas (unused).
            batch_gt_instances_ignore: Unused.

        Returns:
            dict[str, Tensor]: ``loss_cls``, ``loss_bbox``,
            ``loss_centerness`` and, with a ``loss_angle``, ``loss_angle``.
        """
        featmap_sizes = [featmap.size()[-2:] for featmap in cls_scores]
        all_level_points = self.prior_generator.grid_priors(
            featmap_sizes,
            dtype=bbox_preds[0].dtype,
            device=bbox_preds[0].device)
        labels, bbox_targets, angle_targets = self.get_targets(
            all_level_points, batch_gt_instances)

        num_imgs = cls_scores[0].size(0)
        angle_dim = self.angle_coder.encode_size

        def flatten(maps: List[Tensor], channels: int) -> Tensor:
            return torch.cat([
                m.permute(0, 2, 3, 1).reshape(-1, channels) for m in maps
            ])

        flat_cls_scores = flatten(cls_scores, self.cls_out_channels)
        flat_bbox_preds = flatten(bbox_preds, 4)
        flat_angle_preds = flatten(angle_preds, angle_dim)
        flat_centerness = flatten(centernesses, 1).reshape(-1)
        flat_labels = torch.cat(labels)
        flat_bbox_targets = torch.cat(bbox_targets)
        flat_angle_targets = torch.cat(angle_targets)
        flat_points = torch.cat(
            [points.repeat(num_imgs, 1) for points in all_level_points])

        pos_inds = ((flat_labels >= 0) & (flat_labels < self.num_classes)
                    ).nonzero().reshape(-1)
        num_pos = max(
            reduce_mean(
                torch.tensor(
                    float(len(pos_inds)),
                    dtype=torch.float,
                    device=bbox_preds[0].device)), 1.0)
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
            losses['loss_bbox'] = pos_bbox_preds.sum()
            if self.loss_angle is not None:
                losses['loss_angle'] = pos_angle_preds.sum()
            losses['loss_centerness'] = pos_centerness.sum()
            return losses

        pos_points = flat_points[pos_inds]
        if self.use_hbbox_loss:
            coder = self.h_bbox_coder
            pred_codes, target_codes = pos_bbox_preds, pos_bbox_targets
        else:
            coder = self.bbox_coder
            pred_codes = torch.cat([
                pos_bbox_preds,
                self.angle_coder.decode(pos_angle_preds, keepdim=True)
            ], -1)
            target_codes = torch.cat([pos_bbox_targets, pos_angle_targets],
                                     -1)
        losses['loss_bbox'] = self.loss_bbox(
            get_box_tensor(coder.decode(pos_points, pred_codes)),
            get_box_tensor(coder.decode(pos_points, target_codes)),
            weight=pos_centerness_targets,
            avg_factor=centerness_denorm)
        if self.loss_angle is not None:
            losses['loss_angle'] = self.loss_angle(
                pos_angle_preds,
                self.angle_coder.encode(pos_angle_targets),
                avg_factor=num_pos)
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

        gt_bboxes = regularize_rboxes(gt_bboxes, pattern=self.angle_version)
        codes = self.bbox_coder.encode(
            points[:, None, :].expand(num_points, num_gts, 2),
            gt_bboxes[None].expand(num_points, num_gts, 5),
            regularize=False)
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

        The angle codes of each level are decoded to radians
        (``angle_coder.decode``), appended to the distances and handed to
        mmdet's dense-head post-processing (score filter, top-k, decode,
        centerness weighting, NMS).

        Returns:
            list[InstanceData]: Per image ``bboxes`` (:class:`RotatedBoxes`),
            ``scores`` and ``labels``.
        """
        results = super().predict_by_feat(
            cls_scores,
            cat_decoded_angles(self.angle_coder, bbox_preds, angle_preds),
            score_factors=centernesses,
            batch_img_metas=batch_img_metas,
            cfg=cfg,
            rescale=rescale,
            with_nms=with_nms)
        return as_rotated_results(results)
