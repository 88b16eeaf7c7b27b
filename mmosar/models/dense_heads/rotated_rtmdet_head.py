"""Rotated RTMDet heads (mmrotate 1.x ``RotatedRTMDetHead`` and
``RotatedRTMDetSepBNHead``)."""
from typing import List, Optional, Tuple

import torch
from mmcv.cnn import ConvModule, Scale, is_norm
from mmdet.models.dense_heads import RTMDetHead
from mmdet.models.layers.transformer import inverse_sigmoid
from mmdet.models.task_modules.prior_generators import anchor_inside_flags
from mmdet.models.utils import multi_apply, sigmoid_geometric_mean, unmap
from mmdet.structures.bbox import get_box_tensor
from mmdet.utils import (
    ConfigType,
    InstanceList,
    OptConfigType,
    OptInstanceList,
    reduce_mean,
)
from mmengine.model import bias_init_with_prob, constant_init, normal_init
from mmengine.structures import InstanceData
from torch import Tensor, nn

from mmosar.registry import MODELS, TASK_UTILS
from mmosar.structures.bbox import regularize_rboxes

from .angle_branch import as_rotated_results, cat_decoded_angles


@MODELS.register_module()
class RotatedRTMDetHead(RTMDetHead):
    """RTMDet head for rotated boxes (Lyu et al., *RTMDet*, 2022).

    mmdet's :class:`~mmdet.models.dense_heads.RTMDetHead` (towers, ``rtm_cls``,
    ``rtm_reg`` with ``exp`` and per-level ``scales``, optional objectness,
    dynamic soft label assignment, quality focal loss) plus an angle conv
    ``rtm_ang`` with ``angle_coder.encode_size`` outputs. A point's box is
    ``DistanceAnglePointCoder``-decoded from its distances (times the
    stride) and decoded angle; ``loss_bbox`` (e.g. ``RotatedIoULoss``)
    compares the decoded rotated boxes with the regularised ground truth,
    weighted by the assignment's soft IoU. ``loss_angle`` (optional) compares
    the angle codes. Ground truth is assigned by mmdet's
    ``DynamicSoftLabelAssigner`` with a rotated IoU calculator.

    Args:
        num_classes (int): Number of object classes.
        in_channels (int): Channels of the input maps.
        angle_version (str): Angle convention. Defaults to ``'le90'``.
        use_hbbox_loss (bool): Compare axis-aligned boxes (distances only)
            in ``loss_bbox``. Defaults to False.
        scale_angle (bool): Learnable scale of the angle output. Defaults to
            True.
        angle_coder (dict): Angle coder. Defaults to ``PseudoAngleCoder``.
        loss_angle (dict, optional): Angle loss. Defaults to None.
        **kwargs: Arguments of mmdet's ``RTMDetHead``.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 angle_version: str = 'le90',
                 use_hbbox_loss: bool = False,
                 scale_angle: bool = True,
                 angle_coder: ConfigType = dict(type='PseudoAngleCoder'),
                 loss_angle: OptConfigType = None,
                 **kwargs) -> None:
        self.angle_version = angle_version
        self.use_hbbox_loss = use_hbbox_loss
        self.is_scale_angle = scale_angle
        self.angle_coder = TASK_UTILS.build(angle_coder)
        super().__init__(
            num_classes,
            in_channels,
            loss_centerness=dict(
                type='mmdet.CrossEntropyLoss',
                use_sigmoid=True,
                loss_weight=1.0),
            **kwargs)
        self.loss_angle = (MODELS.build(loss_angle)
                           if loss_angle is not None else None)

    def _init_layers(self) -> None:
        """mmdet's RTMDet layers plus ``rtm_ang`` (and ``scale_angle``)."""
        super()._init_layers()
        self.rtm_ang = nn.Conv2d(
            self.feat_channels,
            self.num_base_priors * self.angle_coder.encode_size,
            self.pred_kernel_size,
            padding=self.pred_kernel_size // 2)
        if self.is_scale_angle:
            self.scale_angle = Scale(1.0)

    def init_weights(self) -> None:
        """mmdet's initialisation; the angle conv ~ N(0, 0.01)."""
        super().init_weights()
        normal_init(self.rtm_ang, std=0.01)

    def forward(self, feats: Tuple[Tensor, ...]) -> tuple:
        """Per level class scores (B, C, H, W), distances (B, 4, H, W) in
        pixels and angle codes (B, encode_size, H, W) (float32)."""
        cls_scores, bbox_preds, angle_preds = [], [], []
        for x, scale, stride in zip(feats, self.scales,
                                    self.prior_generator.strides):
            cls_feat, reg_feat = x, x
            for layer in self.cls_convs:
                cls_feat = layer(cls_feat)
            cls_score = self.rtm_cls(cls_feat)
            for layer in self.reg_convs:
                reg_feat = layer(reg_feat)
            if self.with_objectness:
                cls_score = inverse_sigmoid(
                    sigmoid_geometric_mean(cls_score,
                                           self.rtm_obj(reg_feat)))
            cls_scores.append(cls_score)
            bbox_preds.append(
                scale(self.rtm_reg(reg_feat).exp()).float() * stride[0])
            angle_pred = self.rtm_ang(reg_feat)
            if self.is_scale_angle:
                angle_pred = self.scale_angle(angle_pred)
            angle_preds.append(angle_pred.float())
        return tuple(cls_scores), tuple(bbox_preds), tuple(angle_preds)

    def loss_by_feat_single(self, cls_score: Tensor, bbox_pred: Tensor,
                            angle_pred: Tensor, labels: Tensor,
                            label_weights: Tensor, bbox_targets: Tensor,
                            assign_metrics: Tensor,
                            stride: List[int]) -> tuple:
        """Losses of one level (summed; normalised in ``loss_by_feat``).

        Args:
            cls_score (Tensor): (B, C, H, W).
            bbox_pred (Tensor): (B, H * W, 5) decoded rotated boxes (or
                (B, H * W, 4) hboxes with ``use_hbbox_loss``).
            angle_pred (Tensor): (B, H * W, encode_size).
            labels, label_weights (Tensor): (B, H * W).
            bbox_targets (Tensor): (B, H * W, 5) regularised ground truth.
            assign_metrics (Tensor): (B, H * W) soft IoU targets.
            stride (list[int]): Level stride.
        """
        cls_score = cls_score.permute(0, 2, 3, 1).reshape(
            -1, self.cls_out_channels).contiguous()
        bbox_pred = bbox_pred.reshape(-1, 4 if self.use_hbbox_loss else 5)
        bbox_targets = bbox_targets.reshape(-1, 5)
        labels = labels.reshape(-1)
        assign_metrics = assign_metrics.reshape(-1)
        label_weights = label_weights.reshape(-1)
        loss_cls = self.loss_cls(
            cls_score, (labels, assign_metrics), label_weights,
            avg_factor=1.0)
        pos_inds = ((labels >= 0) & (labels < self.num_classes)
                    ).nonzero().squeeze(1)
        if len(pos_inds) == 0:
            zero = bbox_targets.new_tensor(0.)
            return (loss_cls, bbox_pred.sum() * 0, angle_pred.sum() * 0,
                    assign_metrics.sum(), zero, zero)
        pos_targets = bbox_targets[pos_inds]
        pos_weight = assign_metrics[pos_inds]
        target_boxes = pos_targets
        if self.use_hbbox_loss:
            ctr, wh = pos_targets[:, :2], pos_targets[:, 2:4]
            target_boxes = torch.cat([ctr - wh / 2, ctr + wh / 2], dim=-1)
        loss_angle = angle_pred.sum() * 0
        if self.loss_angle is not None:
            codes = angle_pred.reshape(-1, self.angle_coder.encode_size)
            angle_targets = self.angle_coder.encode(pos_targets[:, 4:5])
            loss_angle = self.loss_angle(
                codes[pos_inds],
                angle_targets,
                weight=(pos_weight[:, None]
                        if angle_targets.dim() == 2 else pos_weight),
                avg_factor=1.0)
        loss_bbox = self.loss_bbox(
            bbox_pred[pos_inds], target_boxes, weight=pos_weight,
            avg_factor=1.0)
        return (loss_cls, loss_bbox, loss_angle, assign_metrics.sum(),
                pos_weight.sum(), pos_weight.sum())

    def loss_by_feat(self,
                     cls_scores: List[Tensor],
                     bbox_preds: List[Tensor],
                     angle_preds: List[Tensor],
                     batch_gt_instances: InstanceList,
                     batch_img_metas: List[dict],
                     batch_gt_instances_ignore: OptInstanceList = None
                     ) -> dict:
        """Quality focal, box (and angle) losses.

        Returns:
            dict: ``loss_cls``, ``loss_bbox`` (and ``loss_angle``), per
            level lists.
        """
        num_imgs = len(batch_img_metas)
        featmap_sizes = [featmap.size()[-2:] for featmap in cls_scores]
        device = cls_scores[0].device
        anchor_list, valid_flag_list = self.get_anchors(
            featmap_sizes, batch_img_metas, device=device)
        flat_cls_scores = torch.cat([
            score.permute(0, 2, 3, 1).reshape(num_imgs, -1,
                                              self.cls_out_channels)
            for score in cls_scores
        ], 1)
        decoded_rboxes, decoded_hboxes, angle_codes = [], [], []
        for anchor, bbox_pred, angle_pred in zip(anchor_list[0], bbox_preds,
                                                 angle_preds):
            points = anchor.reshape(-1, 4)[:, :2]
            dist = bbox_pred.permute(0, 2, 3, 1).reshape(num_imgs, -1, 4)
            code = angle_pred.permute(0, 2, 3, 1).reshape(
                num_imgs, -1, self.angle_coder.encode_size)
            if self.use_hbbox_loss:
                decoded_hboxes.append(
                    torch.cat([points - dist[..., :2], points + dist[..., 2:]],
                              dim=-1))
            angle = self.angle_coder.decode(code, keepdim=True)
            decoded_rboxes.append(
                get_box_tensor(
                    self.bbox_coder.decode(points,
                                           torch.cat([dist, angle], -1))))
            angle_codes.append(code)
        (anchor_list, labels_list, label_weights_list, bbox_targets_list,
         assign_metrics_list, _) = self.get_targets(
             flat_cls_scores,
             torch.cat(decoded_rboxes, 1),
             anchor_list,
             valid_flag_list,
             batch_gt_instances,
             batch_img_metas,
             batch_gt_instances_ignore=batch_gt_instances_ignore)
        (losses_cls, losses_bbox, losses_angle, cls_avg, bbox_avg,
         angle_avg) = multi_apply(
             self.loss_by_feat_single, cls_scores,
             decoded_hboxes if self.use_hbbox_loss else decoded_rboxes,
             angle_codes, labels_list, label_weights_list, bbox_targets_list,
             assign_metrics_list, self.prior_generator.strides)

        def normalise(values: List[Tensor], factors: List[Tensor]) -> list:
            factor = reduce_mean(sum(factors)).clamp_(min=1).item()
            return [value / factor for value in values]

        losses = dict(
            loss_cls=normalise(losses_cls, cls_avg),
            loss_bbox=normalise(losses_bbox, bbox_avg))
        if self.loss_angle is not None:
            losses['loss_angle'] = normalise(losses_angle, angle_avg)
        return losses

    def _get_targets_single(self,
                            cls_scores: Tensor,
                            bbox_preds: Tensor,
                            flat_anchors: Tensor,
                            valid_flags: Tensor,
                            gt_instances: InstanceData,
                            img_meta: dict,
                            gt_instances_ignore: Optional[InstanceData] = None,
                            unmap_outputs: bool = True) -> tuple:
        """Targets of one image: labels, weights, regularised rotated
        ground truth (A, 5) and soft IoU metrics of positive points."""
        inside_flags = anchor_inside_flags(flat_anchors, valid_flags,
                                           img_meta['img_shape'][:2],
                                           self.train_cfg['allowed_border'])
        if not inside_flags.any():
            return (None, ) * 7
        anchors = flat_anchors[inside_flags, :]
        pred_instances = InstanceData(
            scores=cls_scores[inside_flags, :],
            bboxes=bbox_preds[inside_flags, :],
            priors=anchors)
        assign_result = self.assigner.assign(pred_instances, gt_instances,
                                             gt_instances_ignore)
        sampling_result = self.sampler.sample(assign_result, pred_instances,
                                              gt_instances)
        num_valid = anchors.shape[0]
        bbox_targets = anchors.new_zeros((num_valid, 5))
        labels = anchors.new_full((num_valid, ),
                                  self.num_classes,
                                  dtype=torch.long)
        label_weights = anchors.new_zeros(num_valid, dtype=torch.float)
        assign_metrics = anchors.new_zeros(num_valid, dtype=torch.float)

        pos_inds = sampling_result.pos_inds
        neg_inds = sampling_result.neg_inds
        if len(pos_inds) > 0:
            bbox_targets[pos_inds] = regularize_rboxes(
                get_box_tensor(sampling_result.pos_gt_bboxes),
                pattern=self.angle_version).to(bbox_targets)
            labels[pos_inds] = sampling_result.pos_gt_labels
            pos_weight = self.train_cfg['pos_weight']
            label_weights[pos_inds] = 1.0 if pos_weight <= 0 else pos_weight
            assign_metrics[pos_inds] = assign_result.max_overlaps[
                pos_inds].to(assign_metrics)
        if len(neg_inds) > 0:
            label_weights[neg_inds] = 1.0

        if unmap_outputs:
            total = flat_anchors.size(0)
            anchors = unmap(anchors, total, inside_flags)
            labels = unmap(labels, total, inside_flags, fill=self.num_classes)
            label_weights = unmap(label_weights, total, inside_flags)
            bbox_targets = unmap(bbox_targets, total, inside_flags)
            assign_metrics = unmap(assign_metrics, total, inside_flags)
        return (anchors, labels, label_weights, bbox_targets, assign_metrics,
                sampling_result)

    def predict_by_feat(self,
                        cls_scores: List[Tensor],
                        bbox_preds: List[Tensor],
                        angle_preds: List[Tensor],
                        batch_img_metas: Optional[List[dict]] = None,
                        cfg: OptConfigType = None,
                        rescale: bool = False,
                        with_nms: bool = True) -> InstanceList:
        """Decode angles, then mmdet's dense post-processing (score filter,
        top-k, ``DistanceAnglePointCoder`` decoding, rotated NMS).

        Returns:
            list[InstanceData]: ``bboxes`` (:class:`RotatedBoxes`),
            ``scores``, ``labels`` per image.
        """
        return as_rotated_results(super().predict_by_feat(
            cls_scores,
            cat_decoded_angles(self.angle_coder, bbox_preds, angle_preds),
            batch_img_metas=batch_img_metas,
            cfg=cfg,
            rescale=rescale,
            with_nms=with_nms))


@MODELS.register_module()
class RotatedRTMDetSepBNHead(RotatedRTMDetHead):
    """Rotated RTMDet head with separate BN per level and (optionally)
    convolutions shared across levels (``share_conv``), as in RTMDet-R.

    Per level ``n``: ``cls_convs[n]``, ``reg_convs[n]`` (ConvModules; with
    ``share_conv`` the conv weights of every level are those of level 0,
    only the norms are per level), ``rtm_cls[n]``, ``rtm_reg[n]``,
    ``rtm_ang[n]`` (``pred_kernel_size``). Distances are
    ``rtm_reg * stride`` (``exp(rtm_reg) * stride`` with ``exp_on_reg``);
    no per-level scale, no angle scale, no float32 cast.

    Args:
        num_classes (int): Number of object classes.
        in_channels (int): Channels of the input maps.
        share_conv (bool): Share the tower convs across levels. Defaults to
            True.
        scale_angle (bool): Must be False.
        norm_cfg (dict): Norm of the towers. Defaults to BN (momentum 0.03,
            eps 0.001).
        act_cfg (dict): Activation. Defaults to SiLU.
        pred_kernel_size (int): Kernel of the prediction convs. Defaults to
            1.
        exp_on_reg (bool): ``exp`` on the distance output. Defaults to
            False.
        **kwargs: Arguments of :class:`RotatedRTMDetHead`.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 share_conv: bool = True,
                 scale_angle: bool = False,
                 norm_cfg: ConfigType = dict(
                     type='BN', momentum=0.03, eps=0.001),
                 act_cfg: ConfigType = dict(type='SiLU'),
                 pred_kernel_size: int = 1,
                 exp_on_reg: bool = False,
                 **kwargs) -> None:
        if scale_angle:
            raise ValueError(
                'RotatedRTMDetSepBNHead does not support scale_angle.')
        self.share_conv = share_conv
        self.exp_on_reg = exp_on_reg
        super().__init__(
            num_classes,
            in_channels,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
            pred_kernel_size=pred_kernel_size,
            scale_angle=False,
            **kwargs)

    def _tower(self) -> nn.ModuleList:
        return nn.ModuleList(
            ConvModule(
                self.in_channels if i == 0 else self.feat_channels,
                self.feat_channels,
                3,
                stride=1,
                padding=1,
                conv_cfg=self.conv_cfg,
                norm_cfg=self.norm_cfg,
                act_cfg=self.act_cfg) for i in range(self.stacked_convs))

    def _pred_conv(self, out_channels: int) -> nn.Conv2d:
        return nn.Conv2d(
            self.feat_channels,
            out_channels,
            self.pred_kernel_size,
            padding=self.pred_kernel_size // 2)

    def _init_layers(self) -> None:
        """Per-level towers and prediction convs."""
        num_levels = len(self.prior_generator.strides)
        self.cls_convs = nn.ModuleList(
            self._tower() for _ in range(num_levels))
        self.reg_convs = nn.ModuleList(
            self._tower() for _ in range(num_levels))
        self.rtm_cls = nn.ModuleList(
            self._pred_conv(self.num_base_priors * self.cls_out_channels)
            for _ in range(num_levels))
        self.rtm_reg = nn.ModuleList(
            self._pred_conv(self.num_base_priors * 4)
            for _ in range(num_levels))
        self.rtm_ang = nn.ModuleList(
            self._pred_conv(self.num_base_priors *
                            self.angle_coder.encode_size)
            for _ in range(num_levels))
        if self.with_objectness:
            self.rtm_obj = nn.ModuleList(
                self._pred_conv(1) for _ in range(num_levels))
        if self.share_conv:
            for level in range(1, num_levels):
                for i in range(self.stacked_convs):
                    self.cls_convs[level][i].conv = self.cls_convs[0][i].conv
                    self.reg_convs[level][i].conv = self.reg_convs[0][i].conv

    def init_weights(self) -> None:
        """Convs ~ N(0, 0.01), norms 1, class bias for prior 0.01."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                normal_init(m, mean=0, std=0.01)
            if is_norm(m):
                constant_init(m, 1)
        bias_cls = bias_init_with_prob(0.01)
        for rtm_cls, rtm_reg, rtm_ang in zip(self.rtm_cls, self.rtm_reg,
                                             self.rtm_ang):
            normal_init(rtm_cls, std=0.01, bias=bias_cls)
            normal_init(rtm_reg, std=0.01)
            normal_init(rtm_ang, std=0.01)
        if self.with_objectness:
            for rtm_obj in self.rtm_obj:
                normal_init(rtm_obj, std=0.01, bias=bias_cls)

    def forward(self, feats: Tuple[Tensor, ...]) -> tuple:
        """Per level class scores, distances (pixels) and angle codes."""
        cls_scores, bbox_preds, angle_preds = [], [], []
        for idx, (x, stride) in enumerate(
                zip(feats, self.prior_generator.strides)):
            cls_feat, reg_feat = x, x
            for layer in self.cls_convs[idx]:
                cls_feat = layer(cls_feat)
            cls_score = self.rtm_cls[idx](cls_feat)
            for layer in self.reg_convs[idx]:
                reg_feat = layer(reg_feat)
            if self.with_objectness:
                cls_score = inverse_sigmoid(
                    sigmoid_geometric_mean(cls_score,
                                           self.rtm_obj[idx](reg_feat)))
            reg = self.rtm_reg[idx](reg_feat)
            if self.exp_on_reg:
                reg = reg.exp()
            cls_scores.append(cls_score)
            bbox_preds.append(reg * stride[0])
            angle_preds.append(self.rtm_ang[idx](reg_feat))
        return tuple(cls_scores), tuple(bbox_preds), tuple(angle_preds)
