"""Rotated task-aligned assigner (TOOD's TAL with ProbIoU), batched.

This is the label assignment of YOLO-OBB, used by E2E-OSDet (M4-SAR).
"""
from typing import Dict

import torch
from torch import Tensor

from mmosar.registry import TASK_UTILS
from mmosar.structures.bbox import RotatedBoxes, rbbox_probiou


@TASK_UTILS.register_module()
class RotatedTaskAlignedAssigner:
    """Task-aligned assignment of anchor points to rotated ground truths.

    For image ``b``, ground truth ``g`` and anchor point ``a``:

    1. *Candidates*: anchor points whose centre lies inside the rotated
       ground-truth box (borders included).
    2. *Alignment metric*: ``t = s^alpha * u^beta`` with ``s`` the predicted
       (sigmoid) score of the ground truth's class at ``a`` and ``u`` the
       ProbIoU of the predicted box at ``a`` with the ground truth (0 for
       non-candidates).
    3. *Top-k*: each ground truth keeps its ``topk`` candidates with the
       largest ``t`` (ties broken by anchor order).
    4. *One ground truth per anchor*: an anchor picked by several ground
       truths keeps the one it overlaps most (largest ``u``).
    5. *Soft targets*: the positive anchor's one-hot class target is scaled
       by ``t * max_u(g) / max_t(g)``, the maxima taken over the positives of
       its ground truth ``g``.

    Args:
        num_classes (int): Number of classes.
        topk (int): Candidates kept per ground truth. Defaults to 10.
        alpha (float): Score exponent. Defaults to 0.5.
        beta (float): ProbIoU exponent. Defaults to 6.0.
        eps (float): Numerical guard of the normalisation. Defaults to 1e-9.
    """

    def __init__(self,
                 num_classes: int,
                 topk: int = 10,
                 alpha: float = 0.5,
                 beta: float = 6.0,
                 eps: float = 1e-9) -> None:
        if topk < 1:
            raise ValueError(f'topk must be >= 1, got {topk}')
        self.num_classes = num_classes
        self.topk = topk
        self.alpha = alpha
        self.beta = beta
        self.eps = eps

    @torch.no_grad()
    def assign(self, pred_scores: Tensor, pred_bboxes: Tensor,
               anchor_points: Tensor, gt_labels: Tensor, gt_bboxes: Tensor,
               pad_bbox_flag: Tensor) -> Dict[str, Tensor]:
        """Assign a padded batch of ground truths to anchor points.

        Args:
            pred_scores (Tensor): Sigmoid class scores, (B, A, C).
            pred_bboxes (Tensor): Predicted rotated boxes
                ``(cx, cy, w, h, t)`` in pixels, (B, A, 5).
            anchor_points (Tensor): Anchor centres in pixels, (A, 2).
            gt_labels (Tensor): Class of each ground truth, (B, G) (long).
            gt_bboxes (Tensor): Rotated ground truths in pixels, (B, G, 5).
            pad_bbox_flag (Tensor): 1 for real ground truths, 0 for padding,
                (B, G).

        Returns:
            dict: ``labels`` (B, A) long (``num_classes`` for background),
            ``bboxes`` (B, A, 5), ``scores`` (B, A, C) soft class targets,
            ``fg_mask`` (B, A) bool and ``gt_inds`` (B, A) long (index of the
            assigned ground truth; 0 for background anchors).
        """
        batch, num_anchors, num_classes = pred_scores.shape
        num_gts = gt_bboxes.size(1)
        if num_classes != self.num_classes:
            raise ValueError(f'pred_scores has {num_classes} classes, the '
                             f'assigner was built for {self.num_classes}')
        if num_gts == 0:
            return dict(
                labels=gt_labels.new_full((batch, num_anchors),
                                          self.num_classes),
                bboxes=pred_bboxes.new_zeros((batch, num_anchors, 5)),
                scores=pred_scores.new_zeros(pred_scores.shape),
                fg_mask=pred_scores.new_zeros((batch, num_anchors),
                                              dtype=torch.bool),
                gt_inds=gt_labels.new_zeros((batch, num_anchors)))

        valid_gt = pad_bbox_flag.bool()[..., None]  # (B, G, 1)
        # anchors are shared by the images: test them against all B*G boxes
        inside = RotatedBoxes(gt_bboxes.reshape(-1, 5)).find_inside_points(
            anchor_points)  # (A, B*G)
        candidates = inside.T.reshape(batch, num_gts, num_anchors) & valid_gt

        overlaps, align_metric = self._alignment_metric(
            pred_scores, pred_bboxes, gt_labels, gt_bboxes, candidates)
        is_pos = self._select_topk(align_metric, valid_gt) & candidates
        is_pos = self._resolve_multiple_gts(is_pos, overlaps)  # (B, G, A)

        fg_mask = is_pos.any(dim=1)  # (B, A)
        gt_inds = is_pos.int().argmax(dim=1)  # (B, A)
        labels = gt_labels.gather(1, gt_inds).clamp(min=0)
        bboxes = gt_bboxes.gather(1, gt_inds[..., None].expand(-1, -1, 5))
        scores = torch.zeros_like(pred_scores)
        scores.scatter_(2, labels[..., None], 1.0)
        scores = scores * fg_mask[..., None]
        labels = torch.where(fg_mask, labels,
                             labels.new_full((), self.num_classes))

        # normalise each ground truth's metric to its best ProbIoU
        align_metric = align_metric * is_pos
        max_metric = align_metric.amax(dim=-1, keepdim=True)  # (B, G, 1)
        max_overlap = (overlaps * is_pos).amax(dim=-1, keepdim=True)
        norm_metric = (align_metric * max_overlap /
                       (max_metric + self.eps)).amax(dim=1)  # (B, A)
        scores = scores * norm_metric[..., None]
        return dict(
            labels=labels,
            bboxes=bboxes,
            scores=scores,
            fg_mask=fg_mask,
            gt_inds=gt_inds)

    def _alignment_metric(self, pred_scores: Tensor, pred_bboxes: Tensor,
                          gt_labels: Tensor, gt_bboxes: Tensor,
                          candidates: Tensor):
        """ProbIoU ``u`` and metric ``s^alpha u^beta`` of candidate pairs.

        Returns:
            tuple[Tensor, Tensor]: both (B, G, A), zero off ``candidates``.
        """
        b_idx, g_idx, a_idx = candidates.nonzero(as_tuple=True)
        overlaps = pred_bboxes.new_zeros(candidates.shape)
        scores = pred_scores.new_zeros(candidates.shape)
        if b_idx.numel():
            overlaps[b_idx, g_idx, a_idx] = rbbox_probiou(
                gt_bboxes[b_idx, g_idx],
                pred_bboxes[b_idx, a_idx],
                is_aligned=True).clamp(min=0).to(overlaps.dtype)
            labels = gt_labels[b_idx, g_idx].clamp(min=0)
            scores[b_idx, g_idx, a_idx] = pred_scores[b_idx, a_idx, labels]
        metric = scores.pow(self.alpha) * overlaps.pow(self.beta)
        return overlaps, metric

    def _select_topk(self, metric: Tensor, valid_gt: Tensor) -> Tensor:
        """The ``topk`` anchors of each real ground truth, (B, G, A) bool."""
        topk = min(self.topk, metric.size(-1))
        topk_inds = metric.topk(topk, dim=-1).indices  # (B, G, k)
        selected = torch.zeros_like(metric, dtype=torch.bool)
        selected.scatter_(-1, topk_inds, True)
        return selected & valid_gt

    @staticmethod
    def _resolve_multiple_gts(is_pos: Tensor, overlaps: Tensor) -> Tensor:
        """Keep, for each anchor, only its best-overlapping ground truth."""
        multiple = is_pos.sum(dim=1, keepdim=True) > 1  # (B, 1, A)
        if not multiple.any():
            return is_pos
        best = overlaps.argmax(dim=1, keepdim=True)  # (B, 1, A)
        best_only = torch.zeros_like(is_pos).scatter_(1, best, True)
        return torch.where(multiple, best_only, is_pos)
