"""Common base of the rotated-detection metrics (DOTA and M4-SAR)."""
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from terminaltables import AsciiTable

from mmosar.structures.bbox import rbbox_overlaps, rbbox_probiou

from ..functional.rotated_det_ap import (
    match_ranked_detections,
    precision_recall,
)

IOU_CALCULATORS = dict(polygon=rbbox_overlaps, probiou=rbbox_probiou)


def _field(container: Any, key: str, default: Any = None) -> Any:
    """Read ``key`` from a dict or an attribute of a data element."""
    if isinstance(container, dict):
        return container.get(key, default)
    return getattr(container, key, default)


def _to_numpy(value: Any, dtype: type) -> np.ndarray:
    if hasattr(value, 'tensor'):  # RotatedBoxes and other mmdet box types
        value = value.tensor
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=dtype)


class BaseRotatedDetMetric(BaseMetric):
    """Per-class AP of rotated detections over one or more IoU thresholds.

    ``process`` keeps, per image, the ground truth (``gt_instances``), the
    ignored ground truth (``ignored_instances``) and the predictions
    (``pred_instances``), boxes as ``(cx, cy, w, h, t)``. ``compute_metrics``
    ranks the predictions of each image by score, matches them per class with
    :func:`match_ranked_detections` using the IoU of ``iou_calculator``,
    ranks all detections of a class by score over the dataset, builds its
    precision/recall curve per threshold and integrates it with the
    subclass's :meth:`average_precision`. A class without (non-ignored)
    ground truth is left out of the means; a class with ground truth but no
    detection has AP 0.

    Returned keys: ``AP{100*thr}`` per threshold (``AP50``, ``AP75``...) and
    ``mAP``, the mean over the thresholds of the class-mean AP. A per-class
    table is logged.

    Args:
        iou_thrs (float | Sequence[float]): IoU thresholds.
        iou_calculator (str): ``'polygon'`` (exact polygon IoU) or
            ``'probiou'`` (ProbIoU).
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): Metric name prefix.
    """

    def __init__(self,
                 iou_thrs: Union[float, Sequence[float]],
                 iou_calculator: str,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        thrs = [iou_thrs] if isinstance(iou_thrs, (int, float)) \
            else list(iou_thrs)
        if not thrs or not all(0 < float(t) <= 1 for t in thrs):
            raise ValueError(
                f'iou_thrs must be a number or a non-empty list of numbers '
                f'in (0, 1], got {iou_thrs!r}')
        self.iou_thrs = [float(t) for t in thrs]
        if iou_calculator not in IOU_CALCULATORS:
            raise ValueError(f'iou_calculator must be one of '
                             f'{sorted(IOU_CALCULATORS)}, got '
                             f'{iou_calculator!r}')
        self.iou_calculator = iou_calculator

    def average_precision(self, recall: np.ndarray,
                          precision: np.ndarray) -> float:
        """AP of one class at one threshold from its ranked curve.

        Args:
            recall (np.ndarray): shape (P, ), P >= 0.
            precision (np.ndarray): shape (P, ).
        """
        raise NotImplementedError

    @staticmethod
    def _threshold_key(thr: float) -> str:
        return f'AP{int(round(thr * 100)):02d}'

    def _read_instances(self, sample: Any, key: str, with_scores: bool,
                        img_id: Any) -> Dict[str, np.ndarray]:
        instances = _field(sample, key)
        empty = dict(bboxes=np.zeros((0, 5), np.float32),
                     labels=np.zeros(0, np.int64))
        if with_scores:
            empty['scores'] = np.zeros(0, np.float64)
        if instances is None or len(_field(instances, 'labels', [])) == 0:
            return empty
        out = dict(
            bboxes=_to_numpy(_field(instances, 'bboxes'), np.float32),
            labels=_to_numpy(_field(instances, 'labels'), np.int64))
        if with_scores:
            out['scores'] = _to_numpy(_field(instances, 'scores'), np.float64)
        num = len(out['labels'])
        if out['bboxes'].shape != (num, 5):
            raise ValueError(
                f'image {img_id!r}: {key}.bboxes has shape '
                f'{out["bboxes"].shape}, expected ({num}, 5) rotated boxes '
                '(cx, cy, w, h, t); convert quadrilaterals with qbox2rbox')
        if with_scores and out['scores'].shape != (num, ):
            raise ValueError(f'image {img_id!r}: {key}.scores has shape '
                             f'{out["scores"].shape}, expected ({num},)')
        return out

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Keep ground truth and predictions of a batch as numpy arrays.

        Args:
            data_batch (Any): Unused.
            data_samples (Sequence[dict | DetDataSample]): With ``img_id``,
                ``gt_instances`` and ``ignored_instances`` (``bboxes``
                (N, 5), ``labels`` (N, )) and ``pred_instances`` (``bboxes``
                (P, 5), ``scores`` (P, ), ``labels`` (P, )); boxes as
                tensors or ``RotatedBoxes``.
        """
        for sample in data_samples:
            img_id = _field(sample, 'img_id')
            gt = self._read_instances(sample, 'gt_instances', False, img_id)
            ignored = self._read_instances(sample, 'ignored_instances', False,
                                           img_id)
            pred = self._read_instances(sample, 'pred_instances', True,
                                        img_id)
            self.results.append(
                dict(
                    img_id=img_id,
                    gt_bboxes=gt['bboxes'],
                    gt_labels=gt['labels'],
                    ignored_bboxes=ignored['bboxes'],
                    ignored_labels=ignored['labels'],
                    pred_bboxes=pred['bboxes'],
                    pred_scores=pred['scores'],
                    pred_labels=pred['labels']))

    def _class_names(self) -> List[str]:
        classes = (self.dataset_meta or {}).get('classes')
        if not classes:
            raise ValueError(
                f'{type(self).__name__} needs dataset_meta["classes"] (set '
                'by the runner from the dataset, or assign '
                'metric.dataset_meta = dict(classes=[...]))')
        return list(classes)

    def _same_class_ious(self, pred_bboxes: np.ndarray,
                         pred_labels: np.ndarray, gt_bboxes: np.ndarray,
                         gt_labels: np.ndarray) -> np.ndarray:
        """IoU of every same-class (prediction, GT) pair of one image.

        All pairs of the image go through one aligned call of the IoU
        function. For the polygon IoU, pairs whose circumscribed circles do
        not meet are skipped (their IoU is exactly 0).

        Args:
            pred_bboxes (np.ndarray): Predicted boxes, shape (P, 5).
            pred_labels (np.ndarray): Their labels, shape (P, ).
            gt_bboxes (np.ndarray): Ground-truth boxes, shape (G, 5).
            gt_labels (np.ndarray): Their labels, shape (G, ).

        Returns:
            np.ndarray: (P, G) float64; 0 for pairs of different classes.
        """
        ious = np.zeros((len(pred_labels), len(gt_labels)))
        pred_idx, gt_idx = np.nonzero(pred_labels[:, None] == gt_labels[None])
        if self.iou_calculator == 'polygon' and len(pred_idx):
            pred_radius = np.hypot(pred_bboxes[:, 2], pred_bboxes[:, 3]) / 2
            gt_radius = np.hypot(gt_bboxes[:, 2], gt_bboxes[:, 3]) / 2
            centre_gap = np.hypot(
                *(pred_bboxes[pred_idx, :2] - gt_bboxes[gt_idx, :2]).T)
            reach = pred_radius[pred_idx] + gt_radius[gt_idx]
            meet = centre_gap <= reach * (1 + 1e-6) + 1e-6
            pred_idx, gt_idx = pred_idx[meet], gt_idx[meet]
        if len(pred_idx):
            ious[pred_idx, gt_idx] = IOU_CALCULATORS[self.iou_calculator](
                torch.from_numpy(pred_bboxes[pred_idx]),
                torch.from_numpy(gt_bboxes[gt_idx]),
                is_aligned=True).numpy()
        return ious

    def _match_image(self, result: dict, num_classes: int) -> tuple:
        """Match the predictions of one image to its ground truth.

        Returns:
            tuple: ``(scores (P,), labels (P,), is_tp (P, T), is_counted (P,
            T), gt_counts (num_classes,))``, predictions in descending score
            order.
        """
        img_id = result['img_id']
        for field in ('gt_labels', 'ignored_labels', 'pred_labels'):
            labels = result[field]
            if labels.size and (labels.min() < 0
                                or labels.max() >= num_classes):
                raise ValueError(
                    f'image {img_id!r}: {field} {np.unique(labels).tolist()}'
                    f' outside [0, {num_classes}) of the dataset classes')
        # Ranked by score as a detector's NMS output is (stable for ties).
        order = np.argsort(-result['pred_scores'], kind='stable')
        scores = result['pred_scores'][order]
        labels = result['pred_labels'][order]
        gt_labels = np.concatenate(
            [result['gt_labels'], result['ignored_labels']])
        gt_ignored = np.arange(len(gt_labels)) >= len(result['gt_labels'])
        ious = self._same_class_ious(
            result['pred_bboxes'][order], labels,
            np.concatenate([result['gt_bboxes'], result['ignored_bboxes']]),
            gt_labels)
        # A prediction only reaches a threshold (> 0) with a GT of its own
        # class, so one matching over the whole image is class-wise.
        is_tp, is_counted = match_ranked_detections(ious, gt_ignored,
                                                    self.iou_thrs)
        gt_counts = np.bincount(result['gt_labels'], minlength=num_classes)
        return scores, labels, is_tp, is_counted, gt_counts

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Class-wise AP over the thresholds; logs a per-class table.

        Args:
            results (list): Per-image dicts from :meth:`process`.

        Returns:
            dict[str, float]: ``AP{thr}`` per threshold and ``mAP``.
        """
        logger: MMLogger = MMLogger.get_current_instance()
        classes = self._class_names()
        num_classes = len(classes)
        logger.info(f'{type(self).__name__}: matching the predictions of '
                    f'{len(results)} images ({self.iou_calculator} IoU, '
                    f'thresholds {self.iou_thrs})')
        per_image = [self._match_image(r, num_classes) for r in results]
        scores, labels, is_tp, is_counted, gt_counts = zip(*per_image) \
            if per_image else ((), (), (), (), ())
        num_thrs = len(self.iou_thrs)
        scores = np.concatenate([np.zeros(0), *scores])
        labels = np.concatenate([np.zeros(0, np.int64), *labels])
        is_tp = np.concatenate([np.zeros((0, num_thrs), bool), *is_tp])
        is_counted = np.concatenate(
            [np.zeros((0, num_thrs), bool), *is_counted])
        num_gts = np.sum([np.zeros(num_classes, np.int64), *gt_counts],
                         axis=0)

        # ap[c, t]; NaN for classes without ground truth.
        ap = np.full((num_classes, num_thrs), np.nan)
        recall_at_first_thr = np.zeros(num_classes)
        num_dets = np.bincount(labels, minlength=num_classes)
        for cls in np.flatnonzero(num_gts > 0):
            members = np.flatnonzero(labels == cls)
            members = members[np.argsort(-scores[members], kind='stable')]
            for t in range(num_thrs):
                ranked = members[is_counted[members, t]]
                recall, precision = precision_recall(is_tp[ranked, t],
                                                     num_gts[cls])
                ap[cls, t] = self.average_precision(recall, precision)
                if t == 0 and recall.size:
                    recall_at_first_thr[cls] = recall[-1]

        evaluated = num_gts > 0
        class_means = ap[evaluated].mean(axis=0) if evaluated.any() \
            else np.zeros(num_thrs)
        metrics = OrderedDict()
        for thr, value in zip(self.iou_thrs, class_means):
            metrics[self._threshold_key(thr)] = float(value)
        metrics['mAP'] = float(class_means.mean())
        self._log_table(classes, num_gts, num_dets, recall_at_first_thr, ap,
                        metrics, logger)
        return metrics

    def _log_table(self, classes: List[str], num_gts: np.ndarray,
                   num_dets: np.ndarray, recall: np.ndarray, ap: np.ndarray,
                   metrics: Dict[str, float], logger: MMLogger) -> None:
        shown = [0]
        at_75 = np.flatnonzero(np.isclose(self.iou_thrs, 0.75))
        if at_75.size and at_75[0] != 0:
            shown.append(int(at_75[0]))
        header = ['class', 'gts', 'dets', f'recall@{self.iou_thrs[0]:g}']
        header += [self._threshold_key(self.iou_thrs[t]) for t in shown]
        if len(self.iou_thrs) > 1:
            header.append('mAP')
        rows = [header]
        for cls, name in enumerate(classes):
            has_gt = num_gts[cls] > 0
            cells = [f'{ap[cls, t]:.3f}' if has_gt else '-' for t in shown]
            if len(self.iou_thrs) > 1:
                cells.append(f'{ap[cls].mean():.3f}' if has_gt else '-')
            rows.append([
                name,
                str(num_gts[cls]),
                str(num_dets[cls]), f'{recall[cls]:.3f}' if has_gt else '-'
            ] + cells)
        mean_cells = [
            f'{metrics[self._threshold_key(self.iou_thrs[t])]:.3f}'
            for t in shown
        ]
        if len(self.iou_thrs) > 1:
            mean_cells.append(f'{metrics["mAP"]:.3f}')
        rows.append(['mean', '', '', ''] + mean_cells)
        table = AsciiTable(rows)
        table.inner_footing_row_border = True
        print_log('\n' + table.table, logger=logger)
