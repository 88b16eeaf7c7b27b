"""DOTA / mmrotate evaluation protocol for rotated detection."""
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
from mmengine.logging import MMLogger

from mmosar.registry import METRICS

from ..functional.dota_submission import write_dota_task1
from ..functional.patch_merge import merge_patch_results
from ..functional.rotated_det_ap import voc_average_precision
from .base_rotated_det_metric import BaseRotatedDetMetric


@METRICS.register_module()
class DOTAMetric(BaseRotatedDetMetric):
    """PASCAL VOC style mAP of rotated boxes, as mmrotate evaluates DOTA.

    Exact polygon IoU; the detections of a class are visited by descending
    score, each is matched to the ground-truth box it overlaps most (a box
    already taken makes it a false positive; an ignored box makes it neither
    true nor false positive), and the AP is VOC07 11-point or VOC12 area
    (see :func:`voc_average_precision`). Classes without ground truth are left
    out of the mean.

    For the DOTA test server, ``format_only=True`` writes the Task1 result
    files and their zip into ``outfile_prefix``; with ``merge_patches=True``
    the predictions of split patches (``img_id`` = ``{ori}__{size}__{x}___
    {y}``) are first shifted back to the original image and merged by a
    per-class rotated NMS. The patch ground truth cannot be merged, so
    ``merge_patches`` requires ``format_only``.

    Args:
        iou_thrs (float | Sequence[float]): IoU thresholds. Defaults to 0.5.
        eval_mode (str): ``'11points'`` (VOC07, default) or ``'area'``.
        format_only (bool): Only write the Task1 files, no evaluation.
        outfile_prefix (str, optional): Directory of the Task1 files; needed
            with ``format_only``.
        merge_patches (bool): Merge split-patch predictions (see above).
        nms_iou_thr (float): IoU threshold of the merging NMS. Defaults to
            0.1.
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): Metric name prefix; defaults to ``'dota'``.
    """

    default_prefix: Optional[str] = 'dota'

    def __init__(self,
                 iou_thrs: Union[float, Sequence[float]] = 0.5,
                 eval_mode: str = '11points',
                 format_only: bool = False,
                 outfile_prefix: Optional[str] = None,
                 merge_patches: bool = False,
                 nms_iou_thr: float = 0.1,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(
            iou_thrs=iou_thrs,
            iou_calculator='polygon',
            collect_device=collect_device,
            prefix=prefix)
        if eval_mode not in ('11points', 'area'):
            raise ValueError(
                f"eval_mode must be '11points' or 'area', got {eval_mode!r}")
        if format_only and not outfile_prefix:
            raise ValueError('format_only=True needs outfile_prefix (the '
                             'directory of the Task1 files)')
        if merge_patches and not format_only:
            raise ValueError(
                'merge_patches=True needs format_only=True: merged patch '
                'predictions are for the DOTA server; the ground truth of '
                'overlapping patches cannot be merged for evaluation')
        self.eval_mode = eval_mode
        self.format_only = format_only
        self.outfile_prefix = outfile_prefix
        self.merge_patches = merge_patches
        self.nms_iou_thr = nms_iou_thr

    def average_precision(self, recall: np.ndarray,
                          precision: np.ndarray) -> float:
        """VOC AP in ``self.eval_mode``."""
        return voc_average_precision(recall, precision, self.eval_mode)

    def merge_patch_predictions(self, results: List[dict]) -> List[dict]:
        """Whole-image predictions from split-patch ones.

        Boxes are shifted by the offset in each ``img_id``
        (``{ori}__{size}__{x}___{y}``) and merged per original image with a
        per-class rotated NMS at ``nms_iou_thr``.

        Args:
            results (list[dict]): Per-patch results of :meth:`process`.

        Returns:
            list[dict]: Per-image dicts with ``img_id`` (original id),
            ``pred_bboxes`` (K, 5), ``pred_scores`` (K, ), ``pred_labels``
            (K, ), sorted by image id.
        """
        merged = merge_patch_results([
            dict(
                img_id=r['img_id'],
                bboxes=r['pred_bboxes'],
                scores=r['pred_scores'],
                labels=r['pred_labels']) for r in results
        ], self.nms_iou_thr)
        return [
            dict(
                img_id=m['img_id'],
                pred_bboxes=m['bboxes'],
                pred_scores=m['scores'],
                pred_labels=m['labels']) for m in merged
        ]

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Evaluate, or write the Task1 submission when ``format_only``."""
        if not self.format_only:
            return super().compute_metrics(results)
        if self.merge_patches:
            results = self.merge_patch_predictions(results)
        zip_path = write_dota_task1(results, self._class_names(),
                                    self.outfile_prefix)
        MMLogger.get_current_instance().info(
            f'DOTA Task1 results of {len(results)} images written to '
            f'{zip_path}')
        return {}
