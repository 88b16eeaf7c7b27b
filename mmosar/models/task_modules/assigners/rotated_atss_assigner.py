"""Adaptive training sample selection on rotated boxes."""
from typing import List, Optional

import torch
from mmdet.models.task_modules.assigners import AssignResult, BaseAssigner
from mmdet.structures.bbox import get_box_tensor
from mmdet.utils import ConfigType
from mmengine.structures import InstanceData
from torch import Tensor

from mmosar.registry import TASK_UTILS

INF = 100000000


def points_in_rboxes(points: Tensor, boxes: Tensor, eps: float) -> Tensor:
    """Whether points lie inside rotated boxes, at least ``eps`` from every
    side (broadcasting ``points`` (..., 2) with ``boxes`` (..., 5))."""
    offset = points - boxes[..., :2]
    cos, sin = torch.cos(boxes[..., 4]), torch.sin(boxes[..., 4])
    along = cos * offset[..., 0] + sin * offset[..., 1]
    across = -sin * offset[..., 0] + cos * offset[..., 1]
    return ((along.abs() <= boxes[..., 2] / 2 - eps)
            & (across.abs() <= boxes[..., 3] / 2 - eps))


@TASK_UTILS.register_module()
class RotatedATSSAssigner(BaseAssigner):
    """ATSS assignment (Zhang et al., CVPR 2020) for rotated priors and
    ground truth (mmrotate 1.x ``RotatedATSSAssigner``).

    For each ground-truth box ``g``:

    1. on every level, the ``topk`` priors whose centres are closest to the
       centre of ``g`` are candidates;
    2. the IoU threshold of ``g`` is ``mean + std`` (unbiased) of the
       candidates' IoUs with ``g``;
    3. candidates with IoU >= threshold whose centre lies inside the rotated
       box ``g`` (at least 0.01 px from each side) are positive.

    A prior positive for several boxes takes the one with the highest IoU.
    With ``alpha`` the overlap is DDOD's ``sigmoid(score)^(1 - alpha) *
    IoU(pred, g)^alpha``.

    Args:
        topk (int): Candidates per level and ground-truth box.
        alpha (float, optional): DDOD cost exponent. Defaults to None.
        iou_calculator (dict): Rotated IoU calculator. Defaults to
            ``RBboxOverlaps2D``.
        ignore_iof_thr (float): Priors whose IoF with an ignored box exceeds
            this are ignored (-1: off).
    """

    def __init__(self,
                 topk: int,
                 alpha: Optional[float] = None,
                 iou_calculator: ConfigType = dict(type='RBboxOverlaps2D'),
                 ignore_iof_thr: float = -1) -> None:
        self.topk = topk
        self.alpha = alpha
        self.iou_calculator = TASK_UTILS.build(iou_calculator)
        self.ignore_iof_thr = ignore_iof_thr

    def assign(self,
               pred_instances: InstanceData,
               num_level_priors: List[int],
               gt_instances: InstanceData,
               gt_instances_ignore: Optional[InstanceData] = None
               ) -> AssignResult:
        """Assign ground truth to priors.

        Args:
            pred_instances (InstanceData): ``priors`` (P, 5) (and, with
                ``alpha``, ``scores`` (P, C) and ``bboxes`` (P, 5)).
            num_level_priors (list[int]): Priors per level.
            gt_instances (InstanceData): ``bboxes`` (G, 5), ``labels`` (G,).
            gt_instances_ignore (InstanceData, optional): ``bboxes`` to
                ignore.

        Returns:
            AssignResult: 1-based ground-truth index per prior (0:
            background, -1: ignored), max overlaps and labels.
        """
        priors = get_box_tensor(pred_instances.priors)
        gt_bboxes = get_box_tensor(gt_instances.bboxes)
        gt_labels = gt_instances.labels
        num_gt, num_priors = gt_bboxes.size(0), priors.size(0)

        if self.alpha is None:
            overlaps = self.iou_calculator(priors, gt_bboxes)
        else:
            cls_cost = torch.sigmoid(pred_instances.scores[:, gt_labels])
            overlaps = self.iou_calculator(
                get_box_tensor(pred_instances.bboxes), gt_bboxes)
            overlaps = cls_cost**(1 - self.alpha) * overlaps**self.alpha

        assigned_gt_inds = overlaps.new_zeros((num_priors, ),
                                              dtype=torch.long)
        if num_gt == 0 or num_priors == 0:
            return AssignResult(
                num_gt,
                assigned_gt_inds,
                overlaps.new_zeros((num_priors, )),
                labels=overlaps.new_full((num_priors, ), -1,
                                         dtype=torch.long))

        prior_ctrs = priors[:, :2]
        distances = (prior_ctrs[:, None] -
                     gt_bboxes[None, :, :2]).pow(2).sum(-1).sqrt()
        if (self.ignore_iof_thr > 0 and gt_instances_ignore is not None
                and len(gt_instances_ignore.bboxes) > 0):
            ignore_overlaps = self.iou_calculator(
                priors, get_box_tensor(gt_instances_ignore.bboxes),
                mode='iof')
            ignored = ignore_overlaps.max(dim=1)[0] > self.ignore_iof_thr
            distances[ignored, :] = INF
            assigned_gt_inds[ignored] = -1

        candidates = []
        start = 0
        for count in num_level_priors:
            k = min(self.topk, count)
            _, idxs = distances[start:start + count].topk(
                k, dim=0, largest=False)
            candidates.append(idxs + start)
            start += count
        candidates = torch.cat(candidates, dim=0)  # (K, G)

        gt_index = torch.arange(num_gt, device=priors.device)
        candidate_overlaps = overlaps[candidates, gt_index]
        threshold = candidate_overlaps.mean(0) + candidate_overlaps.std(0)
        is_pos = candidate_overlaps >= threshold[None]
        is_pos &= points_in_rboxes(prior_ctrs[candidates], gt_bboxes[None],
                                   eps=0.01)

        overlaps_inf = torch.full_like(overlaps, -INF)
        pos_prior = candidates[is_pos]
        pos_gt = gt_index[None].expand_as(candidates)[is_pos]
        overlaps_inf[pos_prior, pos_gt] = overlaps[pos_prior, pos_gt]
        max_overlaps, argmax_overlaps = overlaps_inf.max(dim=1)
        matched = max_overlaps != -INF
        assigned_gt_inds[matched] = argmax_overlaps[matched] + 1

        assigned_labels = assigned_gt_inds.new_full((num_priors, ), -1)
        pos_inds = (assigned_gt_inds > 0).nonzero(as_tuple=True)[0]
        assigned_labels[pos_inds] = gt_labels[assigned_gt_inds[pos_inds] - 1]
        return AssignResult(
            num_gt, assigned_gt_inds, max_overlaps, labels=assigned_labels)
