"""RetinaNet head that regresses rotated boxes."""
from typing import List

from mmdet.models.dense_heads import RetinaHead
from mmdet.structures.bbox import get_box_tensor
from mmdet.utils import ConfigType, InstanceList
from mmengine.structures import InstanceData
from torch import Tensor

from mmosar.registry import MODELS
from mmosar.structures.bbox import RotatedBoxes


@MODELS.register_module()
class RotatedRetinaHead(RetinaHead):
    """RetinaNet head for rotated boxes ``(cx, cy, w, h, t)``.

    The layers, focal classification loss and anchor assignment are mmdet's
    :class:`~mmdet.models.dense_heads.RetinaHead`; what changes is the box
    side: anchors are rotated (``FakeRotatedAnchorGenerator``), regression
    has 5 outputs per anchor (``DeltaXYWHTRBBoxCoder``), the assigner should
    use a rotated IoU calculator (``RBboxOverlaps2D`` for the ``rbox``
    setting, ``FakeRBboxOverlaps2D`` for ``hbox``), and the test-time NMS is
    rotated (``test_cfg.nms = dict(type='nms_rotated', iou_threshold=...)``).
    Predictions come out as :class:`RotatedBoxes` in
    ``pred_instances.bboxes``.

    Args:
        num_classes (int): Number of object classes.
        in_channels (int): Channels of the input feature maps.
        anchor_generator (dict): Rotated anchor generator config.
        bbox_coder (dict): Rotated box coder config; its ``encode_size`` must
            be 5.
        loss_bbox_type (str): ``'normal'`` (mmdet's box loss on deltas, or
            on decoded boxes with ``reg_decoded_bbox``) or ``'kfiou'`` (the
            loss, e.g. ``KFLoss``, gets the deltas and the decoded boxes),
            as mmrotate 1.x. Defaults to ``'normal'``.
        **kwargs: Other arguments of mmdet's ``RetinaHead`` / ``AnchorHead``.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 anchor_generator: ConfigType = dict(
                     type='FakeRotatedAnchorGenerator',
                     angle_version='le90',
                     octave_base_scale=4,
                     scales_per_octave=3,
                     ratios=[1.0, 0.5, 2.0],
                     strides=[8, 16, 32, 64, 128]),
                 bbox_coder: ConfigType = dict(
                     type='DeltaXYWHTRBBoxCoder',
                     angle_version='le90',
                     norm_factor=None,
                     edge_swap=True,
                     proj_xy=True,
                     target_means=(.0, .0, .0, .0, .0),
                     target_stds=(1.0, 1.0, 1.0, 1.0, 1.0)),
                 loss_bbox_type: str = 'normal',
                 **kwargs) -> None:
        if loss_bbox_type not in ('normal', 'kfiou'):
            raise ValueError('loss_bbox_type must be normal or kfiou, got '
                             f'{loss_bbox_type!r}.')
        self.loss_bbox_type = loss_bbox_type
        super().__init__(
            num_classes,
            in_channels,
            anchor_generator=anchor_generator,
            bbox_coder=bbox_coder,
            **kwargs)
        if self.bbox_coder.encode_size != 5:
            raise ValueError(
                'RotatedRetinaHead needs a rotated box coder (encode_size 5), '
                f'got {type(self.bbox_coder).__name__} with encode_size '
                f'{self.bbox_coder.encode_size}.')

    def loss_by_feat_single(self, cls_score: Tensor, bbox_pred: Tensor,
                            anchors: Tensor, labels: Tensor,
                            label_weights: Tensor, bbox_targets: Tensor,
                            bbox_weights: Tensor, avg_factor: int) -> tuple:
        """mmdet's per-level losses; with ``loss_bbox_type='kfiou'`` the box
        loss also receives the decoded predictions and targets."""
        if self.loss_bbox_type != 'kfiou':
            return super().loss_by_feat_single(
                cls_score, bbox_pred, anchors, labels, label_weights,
                bbox_targets, bbox_weights, avg_factor)
        cls_score = cls_score.permute(0, 2, 3, 1).reshape(
            -1, self.cls_out_channels)
        loss_cls = self.loss_cls(
            cls_score,
            labels.reshape(-1),
            label_weights.reshape(-1),
            avg_factor=avg_factor)
        dim = self.bbox_coder.encode_size
        anchors = get_box_tensor(anchors.reshape(-1, anchors.size(-1)))
        bbox_pred = bbox_pred.permute(0, 2, 3, 1).reshape(-1, dim)
        bbox_targets = bbox_targets.reshape(-1, dim)
        loss_bbox = self.loss_bbox(
            bbox_pred,
            bbox_targets,
            bbox_weights.reshape(-1, dim),
            avg_factor=avg_factor,
            pred_decode=get_box_tensor(
                self.bbox_coder.decode(anchors, bbox_pred)),
            targets_decode=get_box_tensor(
                self.bbox_coder.decode(anchors, bbox_targets)))
        return loss_cls, loss_bbox

    def predict_by_feat(self, *args, **kwargs) -> InstanceList:
        """Decode, score-filter and rotated-NMS the head outputs.

        Same arguments as mmdet's ``BaseDenseHead.predict_by_feat``.

        Returns:
            list[InstanceData]: Per image ``bboxes`` (:class:`RotatedBoxes`,
            (n, 5)), ``scores`` (n,) and ``labels`` (n,).
        """
        results: List[InstanceData] = super().predict_by_feat(*args, **kwargs)
        for result in results:
            if isinstance(result.bboxes, Tensor):
                result.bboxes = RotatedBoxes(result.bboxes)
        return results
