"""YOLO11-style oriented-box head (the detection head of E2E-OSDet).

Anchor-free and decoupled: on each level (strides 8, 16, 32) three branches
look at the same neck map,

* box branch: ``Conv3x3 -> Conv3x3 -> Conv1x1(4 * reg_max)``, a discrete
  distribution over ``reg_max`` bins (0 ... reg_max - 1, in stride units) for
  each of the distances (left, top, right, bottom) from the anchor point to
  the sides of the box, measured in the box's own (rotated) frame;
* class branch: two depthwise-separable blocks
  ``(DWConv3x3 -> Conv1x1) x 2`` then ``Conv1x1(num_classes)``;
* angle branch: ``Conv3x3 -> Conv3x3 -> Conv1x1(1)``, decoded as
  ``t = (sigmoid(x) - 0.25) * pi``, in ``[-pi/4, 3pi/4)``.

Box decoding: distances are the expectations of the softmax distributions
times the stride; the box centre is the anchor point moved by
``R(t) ((right - left) / 2, (bottom - top) / 2)`` and its size is
``(left + right, top + bottom)`` (:class:`DistanceAnglePointCoder`).

Loss (normalised by the sum of the soft class targets ``S``):
``0.5 * BCE(cls) / S + 7.5 * sum_pos w (1 - ProbIoU) / S
+ 1.5 * sum_pos w DFL / S`` with ``w`` the positive's target score and
targets from :class:`RotatedTaskAlignedAssigner`.
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmcv.ops import batched_nms
from mmdet.models.dense_heads.base_dense_head import BaseDenseHead
from mmdet.models.task_modules.prior_generators import MlvlPointGenerator
from mmdet.utils import ConfigType, InstanceList, OptConfigType
from mmengine.config import ConfigDict
from mmengine.dist import get_world_size
from mmengine.structures import InstanceData
from torch import Tensor, nn

from mmosar.registry import MODELS, TASK_UTILS
from mmosar.structures.bbox import RotatedBoxes, rbbox_probiou

from ..layers.yolo_blocks import yolo_conv

DFL_TARGET_FRAMES = ('box', 'image')


def decode_obb_angle(angle_logits: Tensor) -> Tensor:
    """YOLO-OBB angle decoding ``(sigmoid(x) - 0.25) * pi`` in radians."""
    return (angle_logits.sigmoid() - 0.25) * math.pi


def probiou_nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Rotated NMS on ProbIoU, as in the released M4-SAR / YOLO-OBB code.

    Boxes are sorted by decreasing score; a box is removed when its ProbIoU
    with *any* higher-scoring box (kept or not, i.e. "fast NMS") is
    ``>= iou_threshold``.

    Args:
        boxes (Tensor): (N, 5) rotated boxes.
        scores (Tensor): (N, ).
        iou_threshold (float): ProbIoU threshold.

    Returns:
        Tensor: indices of the kept boxes, by decreasing score.
    """
    if boxes.numel() == 0:
        return scores.new_zeros((0, ), dtype=torch.long)
    order = scores.argsort(descending=True)
    ious = rbbox_probiou(boxes[order], boxes[order]).triu_(diagonal=1)
    keep = (ious >= iou_threshold).sum(dim=0) == 0
    return order[keep]


@MODELS.register_module()
class YOLOOBBHead(BaseDenseHead):
    """YOLO11 oriented-box head with DFL box branch and one angle channel.

    Args:
        num_classes (int): Number of classes.
        in_channels (Sequence[int]): Channels of the input levels
            (E2E-OSDet at scale s: ``(128, 256, 512)``).
        strides (Sequence[int]): Strides of the levels.
        reg_max (int): DFL bins per distance. Defaults to 16.
        box_channels, cls_channels, angle_channels (int, optional): Hidden
            widths of the branches; by default YOLO11's
            ``max(16, c0 // 4, 4 * reg_max)``, ``max(c0, min(nc, 100))`` and
            ``max(c0 // 4, 1)`` with ``c0 = in_channels[0]``.
        prior_img_size (int): Image size in YOLO's class-bias prior
            ``log(5 / nc / (prior_img_size / stride)^2)``. Defaults to 640
            (the released value, whatever the training size).
        dfl_target_frame (str): Frame of the DFL distance targets.
            ``'box'``: distances to the sides of the rotated target, in the
            frame of the target's representation closest to the predicted
            angle (consistent with the decoding). ``'image'``: released
            YOLO-OBB behaviour, distances to the sides of the target taken
            as axis-aligned (``w >= h``, angle ignored).
        scale_loss_by_batch (bool): multiply every loss by the number of
            images on this GPU times the world size, the scale the released
            trainer backpropagates (``loss.sum() * batch_size`` per GPU,
            times the world size against DDP's gradient averaging). With it,
            the optimizer sees the released gradients (see
            configs/e2e_osdet/README.md). Defaults to False (mmdet's
            per-target normalisation only).
        min_gt_size (float): Ground truths with width or height below this
            (pixels of the network input) are ignored, as in the released
            code (2 px). Defaults to 2.0.
        assigner (dict): :class:`RotatedTaskAlignedAssigner` config.
        loss_cls (dict): Classification loss (sigmoid BCE on soft targets).
        loss_bbox (dict): Rotated box loss (``1 - ProbIoU``).
        loss_dfl (dict): Distribution focal loss.
        norm_cfg, act_cfg (dict, optional): YOLO BN / SiLU by default.
        train_cfg, test_cfg (dict, optional): ``test_cfg`` keys:
            ``score_thr`` (0.001), ``nms_pre`` (30000 candidates),
            ``nms`` (``dict(type='nms_rotated' | 'probiou_nms',
            iou_threshold=0.7)``), ``max_per_img`` (300).
        init_cfg (dict, optional): Not used: the head always uses PyTorch's
            default conv init plus the YOLO bias priors.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: Sequence[int] = (128, 256, 512),
                 strides: Sequence[int] = (8, 16, 32),
                 reg_max: int = 16,
                 box_channels: Optional[int] = None,
                 cls_channels: Optional[int] = None,
                 angle_channels: Optional[int] = None,
                 prior_img_size: int = 640,
                 dfl_target_frame: str = 'box',
                 scale_loss_by_batch: bool = False,
                 min_gt_size: float = 2.0,
                 assigner: ConfigType = dict(
                     type='RotatedTaskAlignedAssigner',
                     topk=10,
                     alpha=0.5,
                     beta=6.0),
                 loss_cls: ConfigType = dict(
                     type='CrossEntropyLoss',
                     use_sigmoid=True,
                     reduction='mean',
                     loss_weight=0.5),
                 loss_bbox: ConfigType = dict(
                     type='ProbIoULoss',
                     mode='l1',
                     reduction='mean',
                     loss_weight=7.5),
                 loss_dfl: ConfigType = dict(
                     type='DistributionFocalLoss',
                     reduction='mean',
                     loss_weight=1.5),
                 norm_cfg: OptConfigType = None,
                 act_cfg: OptConfigType = None,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if len(in_channels) != len(strides):
            raise ValueError(f'in_channels {in_channels} and strides '
                             f'{strides} must have one entry per level')
        if dfl_target_frame not in DFL_TARGET_FRAMES:
            raise ValueError(f'dfl_target_frame must be one of '
                             f'{DFL_TARGET_FRAMES}, got {dfl_target_frame!r}')
        self.num_classes = num_classes
        self.in_channels = tuple(in_channels)
        self.strides = tuple(strides)
        self.reg_max = reg_max
        self.prior_img_size = prior_img_size
        self.dfl_target_frame = dfl_target_frame
        self.scale_loss_by_batch = scale_loss_by_batch
        self.min_gt_size = min_gt_size
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg

        c0 = self.in_channels[0]
        box_channels = box_channels or max(16, c0 // 4, 4 * reg_max)
        cls_channels = cls_channels or max(c0, min(num_classes, 100))
        angle_channels = angle_channels or max(c0 // 4, 1)
        cfgs = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.box_branches = nn.ModuleList(
            self._branch(c, box_channels, 4 * reg_max, **cfgs)
            for c in self.in_channels)
        self.cls_branches = nn.ModuleList(
            self._depthwise_cls_branch(c, cls_channels, num_classes, **cfgs)
            for c in self.in_channels)
        self.angle_branches = nn.ModuleList(
            self._branch(c, angle_channels, 1, **cfgs)
            for c in self.in_channels)
        self.register_buffer(
            'dfl_bins',
            torch.arange(reg_max, dtype=torch.float32),
            persistent=False)

        self.prior_generator = MlvlPointGenerator(self.strides, offset=0.5)
        self.bbox_coder = TASK_UTILS.build(
            dict(
                type='DistanceAnglePointCoder',
                angle_version=None,
                use_box_type=False))
        assigner = dict(assigner)
        assigner.setdefault('num_classes', num_classes)
        self.assigner = TASK_UTILS.build(assigner)
        self.loss_cls = MODELS.build(loss_cls)
        self.loss_bbox = MODELS.build(loss_bbox)
        self.loss_dfl = MODELS.build(loss_dfl)
        self._init_bias_priors()

    @staticmethod
    def _branch(in_channels: int, hidden: int, out_channels: int,
                **cfgs) -> nn.Sequential:
        return nn.Sequential(
            yolo_conv(in_channels, hidden, 3, **cfgs),
            yolo_conv(hidden, hidden, 3, **cfgs),
            nn.Conv2d(hidden, out_channels, 1))

    @staticmethod
    def _depthwise_cls_branch(in_channels: int, hidden: int, num_classes: int,
                              **cfgs) -> nn.Sequential:
        return nn.Sequential(
            yolo_conv(in_channels, in_channels, 3, groups=in_channels, **cfgs),
            yolo_conv(in_channels, hidden, 1, **cfgs),
            yolo_conv(hidden, hidden, 3, groups=hidden, **cfgs),
            yolo_conv(hidden, hidden, 1, **cfgs),
            nn.Conv2d(hidden, num_classes, 1))

    def _init_bias_priors(self) -> None:
        """YOLO bias priors: box logits 1, class logits for ~5 objects per
        ``prior_img_size``^2 image."""
        for box, cls, stride in zip(self.box_branches, self.cls_branches,
                                    self.strides):
            nn.init.constant_(box[-1].bias, 1.0)
            prior = math.log(5 / self.num_classes /
                             (self.prior_img_size / stride)**2)
            nn.init.constant_(cls[-1].bias, prior)

    def init_weights(self) -> None:
        """PyTorch default conv init (as YOLO11), then the bias priors."""
        super().init_weights()
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                module.reset_parameters()
        self._init_bias_priors()

    def forward(
        self, feats: Sequence[Tensor]
    ) -> Tuple[List[Tensor], List[Tensor], List[Tensor]]:
        """Raw outputs per level.

        Args:
            feats (Sequence[Tensor]): ``(B, in_channels[i], H_i, W_i)``.

        Returns:
            tuple: class logits ``(B, num_classes, H_i, W_i)``, DFL logits
            ``(B, 4 * reg_max, H_i, W_i)`` and angle logits
            ``(B, 1, H_i, W_i)``, one list entry per level.
        """
        if len(feats) != len(self.strides):
            raise ValueError(f'{type(self).__name__} expects '
                             f'{len(self.strides)} levels, got {len(feats)}')
        cls_scores = [b(x) for b, x in zip(self.cls_branches, feats)]
        bbox_dists = [b(x) for b, x in zip(self.box_branches, feats)]
        angle_preds = [b(x) for b, x in zip(self.angle_branches, feats)]
        return cls_scores, bbox_dists, angle_preds

    # ------------------------------------------------------------ decoding
    def _priors(self, featmaps: Sequence[Tensor]) -> Tuple[Tensor, Tensor]:
        """Anchor points (A, 2) and their strides (A, 1), in pixels, in the
        features' dtype (at least float32)."""
        dtype = torch.promote_types(featmaps[0].dtype, torch.float32)
        priors = torch.cat(
            self.prior_generator.grid_priors([f.shape[-2:] for f in featmaps],
                                             dtype=dtype,
                                             device=featmaps[0].device,
                                             with_stride=True))
        return priors[:, :2], priors[:, 2:3]

    @staticmethod
    def _flatten(maps: Sequence[Tensor]) -> Tensor:
        """Level maps (B, C, H_i, W_i) -> (B, sum H_i W_i, C), at least
        float32 (float64 stays float64)."""
        flat = torch.cat([m.flatten(2) for m in maps], dim=2).transpose(1, 2)
        return flat.to(torch.promote_types(flat.dtype, torch.float32))

    def dfl_distances(self, dist_logits: Tensor) -> Tensor:
        """Expected distances in stride units: (..., 4 * R) -> (..., 4)."""
        probs = dist_logits.unflatten(-1, (4, self.reg_max)).softmax(dim=-1)
        return probs @ self.dfl_bins

    def decode(self, anchor_points: Tensor, strides: Tensor,
               dist_logits: Tensor, angle_logits: Tensor) -> Tensor:
        """Rotated boxes ``(cx, cy, w, h, t)`` in pixels.

        Args:
            anchor_points (Tensor): (A, 2) pixels.
            strides (Tensor): (A, 1).
            dist_logits (Tensor): (B, A, 4 * reg_max).
            angle_logits (Tensor): (B, A, 1).

        Returns:
            Tensor: (B, A, 5).
        """
        # in stride units, then scaled, as released (same rounding)
        boxes = self.bbox_coder.decode(
            anchor_points / strides,
            torch.cat([
                self.dfl_distances(dist_logits),
                decode_obb_angle(angle_logits)
            ], dim=-1))
        return torch.cat([boxes[..., :4] * strides, boxes[..., 4:]], dim=-1)

    # ---------------------------------------------------------------- loss
    def _pad_gts(
            self,
            batch_gt_instances: InstanceList) -> Tuple[Tensor, Tensor, Tensor]:
        """Ground truths padded to (B, G): labels, boxes (B, G, 5), flags."""
        boxes, labels = [], []
        for i, gt in enumerate(batch_gt_instances):
            tensor = gt.bboxes.tensor if hasattr(gt.bboxes,
                                                 'tensor') else gt.bboxes
            if tensor.dim() != 2 or tensor.size(-1) != 5:
                raise ValueError(
                    f'{type(self).__name__} needs rotated ground truths '
                    f'(N, 5); image {i} has boxes of shape '
                    f'{tuple(tensor.shape)} (add ConvertBoxType to rbox in '
                    'the pipeline)')
            big = (tensor[:, 2] >= self.min_gt_size) & (
                tensor[:, 3] >= self.min_gt_size)
            boxes.append(tensor[big].float())
            labels.append(gt.labels[big].long())
        num = max(len(b) for b in boxes)
        device = boxes[0].device
        padded_boxes = torch.zeros((len(boxes), num, 5), device=device)
        padded_labels = torch.zeros((len(boxes), num),
                                    dtype=torch.long,
                                    device=device)
        flags = torch.zeros((len(boxes), num), device=device)
        for i, (b, lab) in enumerate(zip(boxes, labels)):
            padded_boxes[i, :len(b)] = b
            padded_labels[i, :len(b)] = lab
            flags[i, :len(b)] = 1
        return padded_labels, padded_boxes, flags

    def dfl_targets(self, points: Tensor, strides: Tensor,
                    target_boxes: Tensor, pred_angles: Tensor) -> Tensor:
        """DFL targets (N, 4) in stride units, clamped to the bin range.

        Args:
            points (Tensor): (N, 2) positive anchor points (pixels).
            strides (Tensor): (N, 1).
            target_boxes (Tensor): (N, 5) assigned ground truths.
            pred_angles (Tensor): (N, ) predicted angles (detached), used by
                the ``'box'`` frame to pick the target's representation.
        """
        if self.dfl_target_frame == 'image':
            # released: the target's own (w, h), angle ignored
            boxes = torch.cat(
                [target_boxes[:, :4],
                 torch.zeros_like(target_boxes[:, 4:])], dim=-1)
        else:
            ctr, w, h, t = target_boxes.split([2, 1, 1, 1], dim=-1)
            # (w, h, t) == (h, w, t + pi/2) == (w, h, t + pi): use the
            # representation whose angle is within pi/4 of the prediction
            pred_angles = pred_angles[:, None]
            delta = torch.remainder(t - pred_angles + math.pi / 2,
                                    math.pi) - math.pi / 2
            swap = delta.abs() > math.pi / 4
            delta = torch.where(swap, delta - torch.sign(delta) * math.pi / 2,
                                delta)
            width, height = torch.where(swap, h, w), torch.where(swap, w, h)
            boxes = torch.cat([ctr, width, height, pred_angles + delta], -1)
        distances = self.bbox_coder.encode(points, boxes)[:, :4] / strides
        return distances.clamp(min=0, max=self.reg_max - 1 - 0.01)

    def loss_by_feat(
        self,
        cls_scores: List[Tensor],
        bbox_dists: List[Tensor],
        angle_preds: List[Tensor],
        batch_gt_instances: InstanceList,
        batch_img_metas: List[dict],
        batch_gt_instances_ignore: Optional[InstanceList] = None
    ) -> Dict[str, Tensor]:
        """Classification, ProbIoU and DFL losses of a batch.

        Args:
            cls_scores, bbox_dists, angle_preds (list[Tensor]): outputs of
                :meth:`forward`.
            batch_gt_instances (list[InstanceData]): ``bboxes``
                (:class:`RotatedBoxes` in input pixels) and ``labels``.
            batch_img_metas (list[dict]): Not used.
            batch_gt_instances_ignore: Not supported (must be None or empty).

        Returns:
            dict: ``loss_cls``, ``loss_bbox``, ``loss_dfl``.
        """
        if batch_gt_instances_ignore is not None and any(
                ignore is not None and len(ignore)
                for ignore in batch_gt_instances_ignore):
            raise NotImplementedError(
                f'{type(self).__name__} does not support ignored boxes')
        anchor_points, strides = self._priors(cls_scores)
        flat_cls = self._flatten(cls_scores)
        flat_dist = self._flatten(bbox_dists)
        flat_angle = self._flatten(angle_preds)
        pred_boxes = self.decode(anchor_points, strides, flat_dist, flat_angle)

        gt_labels, gt_boxes, pad_flag = self._pad_gts(batch_gt_instances)
        # as released: predicted boxes in the ground truths' dtype (float32)
        assigned = self.assigner.assign(flat_cls.detach().sigmoid(),
                                        pred_boxes.detach().to(gt_boxes),
                                        anchor_points, gt_labels, gt_boxes,
                                        pad_flag)
        target_scores = assigned['scores']
        avg_factor = target_scores.sum().clamp(min=1).item()

        # every loss: sum / avg_factor exactly as released (mmdet's
        # avg_factor reduction adds float32 eps to the divisor)
        loss_cls = self.loss_cls(
            flat_cls.reshape(-1, self.num_classes),
            target_scores.reshape(-1, self.num_classes),
            reduction_override='sum') / avg_factor

        fg_mask = assigned['fg_mask']
        box_weight = target_scores.sum(dim=-1)[fg_mask]
        loss_bbox = self.loss_bbox(
            pred_boxes[fg_mask],
            assigned['bboxes'][fg_mask],
            weight=box_weight,
            reduction_override='sum') / avg_factor

        fg_anchor = fg_mask.nonzero(as_tuple=True)[1]
        dist_targets = self.dfl_targets(anchor_points[fg_anchor],
                                        strides[fg_anchor],
                                        assigned['bboxes'][fg_mask],
                                        pred_boxes[fg_mask][:, 4].detach())
        # mean over the 4 sides, weighted by the positive's target score
        side_weight = (box_weight[:, None] / 4).expand(-1, 4).reshape(-1)
        loss_dfl = self.loss_dfl(
            flat_dist[fg_mask].reshape(-1, self.reg_max),
            dist_targets.reshape(-1),
            weight=side_weight,
            reduction_override='sum') / avg_factor
        losses = dict(
            loss_cls=loss_cls, loss_bbox=loss_bbox, loss_dfl=loss_dfl)
        if self.scale_loss_by_batch:
            scale = flat_cls.size(0) * get_world_size()
            losses = {k: v * scale for k, v in losses.items()}
        return losses

    # ----------------------------------------------------------- inference
    def decode_predictions(self, cls_scores: List[Tensor],
                           bbox_dists: List[Tensor],
                           angle_preds: List[Tensor]) -> Tuple[Tensor, Tensor]:
        """All anchors' class scores and boxes, before any filtering.

        The released eval output (``OBB`` head in eval mode) is
        ``cat([boxes[..., :4], scores, boxes[..., 4:]], -1)`` transposed.

        Returns:
            tuple[Tensor, Tensor]: sigmoid scores ``(B, A, num_classes)`` and
            boxes ``(B, A, 5)`` (``cx, cy, w, h`` in input pixels, angle in
            radians), anchors level by level, row-major.
        """
        anchor_points, strides = self._priors(cls_scores)
        scores = self._flatten(cls_scores).sigmoid()
        boxes = self.decode(anchor_points, strides, self._flatten(bbox_dists),
                            self._flatten(angle_preds))
        return scores, boxes

    def predict_by_feat(self,
                        cls_scores: List[Tensor],
                        bbox_dists: List[Tensor],
                        angle_preds: List[Tensor],
                        batch_img_metas: Optional[List[dict]] = None,
                        cfg: OptConfigType = None,
                        rescale: bool = False,
                        with_nms: bool = True) -> InstanceList:
        """Decode, keep (anchor, class) pairs above ``score_thr``, rotated
        NMS per class, at most ``max_per_img`` detections.

        Returns:
            list[InstanceData]: per image ``bboxes`` (:class:`RotatedBoxes`,
            (N, 5), original image pixels if ``rescale``), ``scores`` (N, )
            and ``labels`` (N, ).
        """
        cfg = ConfigDict(cfg or self.test_cfg or {})
        scores, boxes = self.decode_predictions(cls_scores, bbox_dists,
                                                angle_preds)
        batch_img_metas = batch_img_metas or [{}] * scores.size(0)
        return [
            self._predict_single(s, b, meta, cfg, rescale, with_nms)
            for s, b, meta in zip(scores, boxes, batch_img_metas)
        ]

    def _predict_single(self, scores: Tensor, boxes: Tensor, img_meta: dict,
                        cfg: ConfigDict, rescale: bool,
                        with_nms: bool) -> InstanceData:
        """One image: scores (A, C), boxes (A, 5) -> InstanceData."""
        anchor_inds, labels = (scores > cfg.get('score_thr',
                                                0.001)).nonzero(as_tuple=True)
        det_scores = scores[anchor_inds, labels]
        nms_pre = cfg.get('nms_pre', 30000)
        if nms_pre > 0 and det_scores.numel() > nms_pre:
            det_scores, top = det_scores.topk(nms_pre)
            anchor_inds, labels = anchor_inds[top], labels[top]
        det_boxes = boxes[anchor_inds]
        if with_nms and det_boxes.numel():
            keep = self._nms(det_boxes, det_scores, labels, cfg)
        else:
            keep = det_scores.argsort(descending=True)
        keep = keep[:cfg.get('max_per_img', 300)]
        det_boxes = RotatedBoxes(det_boxes[keep])
        if rescale and 'scale_factor' in img_meta:
            sx, sy = img_meta['scale_factor']
            det_boxes.rescale_((1 / sx, 1 / sy))
        results = InstanceData()
        results.bboxes = det_boxes
        results.scores = det_scores[keep]
        results.labels = labels[keep]
        return results

    @staticmethod
    def _nms(boxes: Tensor, scores: Tensor, labels: Tensor,
             cfg: ConfigDict) -> Tensor:
        """Class-aware rotated NMS; indices of the kept boxes by score."""
        nms_cfg = dict(
            cfg.get('nms', dict(type='nms_rotated', iou_threshold=0.7)))
        nms_type = nms_cfg.get('type', 'nms_rotated')
        if nms_type == 'probiou_nms':
            # shift classes far apart so they never overlap (as released)
            offset = labels[:, None].to(boxes) * 7680.0
            shifted = torch.cat([boxes[:, :2] + offset, boxes[:, 2:]], -1)
            keep = probiou_nms(shifted, scores, nms_cfg['iou_threshold'])
        elif nms_type == 'nms_rotated':
            _, keep = batched_nms(boxes, scores, labels, nms_cfg)
        else:
            raise ValueError(f"test_cfg.nms.type must be 'nms_rotated' or "
                             f"'probiou_nms', got {nms_type!r}")
        return keep[scores[keep].argsort(descending=True)]
