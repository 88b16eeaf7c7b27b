"""M4-SAR benchmark protocol (Ultralytics 8.3.8 OBB validator)."""
from typing import Optional, Sequence, Union

import numpy as np

from mmosar.registry import METRICS

from ..functional.rotated_det_ap import interp101_average_precision
from .base_rotated_det_metric import BaseRotatedDetMetric

#: IoU thresholds 0.50:0.05:0.95 of the M4-SAR benchmark.
M4SAR_IOU_THRS = [round(0.5 + 0.05 * i, 2) for i in range(10)]


@METRICS.register_module()
class M4SARMetric(BaseRotatedDetMetric):
    """AP50 / AP75 / mAP50:95 as the M4-SAR benchmark reports them.

    The M4-SAR numbers come from the Ultralytics 8.3.8 OBB validator; this
    metric reproduces it:

    - overlap: ProbIoU between predictions and ground truth
      (``iou_calculator='polygon'`` switches to exact polygon IoU);
    - thresholds 0.50:0.05:0.95;
    - matching per image and threshold: each prediction (ranked by score, as
      the validator's NMS output is) takes its highest-IoU same-class ground
      truth among those ``>= thr``; a ground truth claimed by several keeps
      the highest-ranked one, the others are false positives (see
      :func:`match_ranked_detections`);
    - AP per class: 101-point interpolated area under the precision envelope
      (:func:`interp101_average_precision`); classes without ground truth are
      left out, classes with ground truth but no prediction count as 0;
    - ``AP50`` = mean class AP at 0.5, ``AP75`` at 0.75, ``mAP`` = mean over
      classes and the ten thresholds (mAP50:95).

    The validator has no ignored ground truth; ``ignored_instances``, when
    present, are handled as in :class:`DOTAMetric` (neither TP nor FP).

    Args:
        iou_thrs (float | Sequence[float]): IoU thresholds. Defaults to
            0.50:0.05:0.95.
        iou_calculator (str): ``'probiou'`` (default) or ``'polygon'``.
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): Metric name prefix; defaults to ``'m4sar'``.
    """

    default_prefix: Optional[str] = 'm4sar'

    def __init__(self,
                 iou_thrs: Union[float, Sequence[float]] = M4SAR_IOU_THRS,
                 iou_calculator: str = 'probiou',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(
            iou_thrs=iou_thrs,
            iou_calculator=iou_calculator,
            collect_device=collect_device,
            prefix=prefix)

    def average_precision(self, recall: np.ndarray,
                          precision: np.ndarray) -> float:
        """101-point interpolated AP (COCO style, Ultralytics sentinels)."""
        return interp101_average_precision(recall, precision)
