"""``PairedDetLocalVisualizer``: optical | SAR side by side with the boxes."""
from typing import Optional, Tuple

import numpy as np
from mmdet.structures import DetDataSample

from mmosar.datasets.transforms.paired import read_image_bands
from mmosar.registry import VISUALIZERS

from .rotated_visualizer import RotLocalVisualizer


@VISUALIZERS.register_module()
class PairedDetLocalVisualizer(RotLocalVisualizer):
    """Draw a paired optical + SAR sample as two panels with the same boxes.

    Ground truth and predictions (rotated or quadrilateral boxes, class name
    and score) are drawn on the optical panel and repeated on the SAR panel
    (drawing and panel layout come from :class:`RotLocalVisualizer`).

    ``image`` may be the stacked paired image (optical bands in RGB order,
    then SAR bands, split by the sample's ``modality_channels`` metainfo), or
    the optical image alone, which is what mmdet's ``DetVisualizationHook``
    passes (it reads ``img_path``): the SAR image is then read from the
    sample's ``sar_path`` metainfo (add ``'sar_path'`` and
    ``'modality_channels'`` to ``PackDetInputs``' ``meta_keys``).

    Args:
        name: Instance name (mmengine visualizers are named singletons).
        sar_range: (low, high) mapped to [0, 255] for SAR files that are not
            8-bit, as in :class:`LoadPairedImages`.
        **kwargs: :class:`RotLocalVisualizer` arguments.
    """

    def __init__(self,
                 name: str = 'visualizer',
                 *args,
                 sar_range: Optional[Tuple[float, float]] = (-30.0, 5.0),
                 **kwargs) -> None:
        super().__init__(name, *args, **kwargs)
        self.sar_range = sar_range

    def _with_sar(
        self, image: np.ndarray, data_sample: Optional[DetDataSample]
    ) -> Tuple[np.ndarray, Optional[DetDataSample]]:
        """Append the SAR bands when ``image`` holds only the optical ones.
        """
        if data_sample is None or 'sar_path' not in data_sample.metainfo:
            return image, data_sample
        meta = data_sample.metainfo
        channels = meta.get('modality_channels')
        bands = 1 if image.ndim == 2 else image.shape[2]
        if channels is not None and bands == sum(channels.values()):
            return image, data_sample  # already the stacked pair
        sar, paths = read_image_bands(meta['sar_path'], self.sar_range, None)
        if sar.shape[:2] != image.shape[:2]:
            raise ValueError(
                f'SAR {paths} is {sar.shape[1]}x{sar.shape[0]} (W x H) but '
                f'the optical image to draw is {image.shape[1]}x'
                f'{image.shape[0]}')
        optical = image if image.ndim == 3 else image[..., None]
        if optical.dtype != sar.dtype:
            optical, sar = optical.astype(np.float32), sar.astype(np.float32)
        data_sample = data_sample.clone()
        data_sample.set_metainfo(
            dict(
                modality_channels=dict(
                    optical=optical.shape[2], sar=sar.shape[2])))
        return np.concatenate([optical, sar], axis=2), data_sample

    def add_datasample(self,
                       name: str,
                       image: np.ndarray,
                       data_sample: Optional[DetDataSample] = None,
                       draw_gt: bool = True,
                       draw_pred: bool = True,
                       show: bool = False,
                       wait_time: float = 0,
                       out_file: Optional[str] = None,
                       pred_score_thr: float = 0.3,
                       step: int = 0) -> None:
        """Draw optical | SAR panels (gt above predictions, as mmdet).

        Args:
            name: Image identifier for the backends.
            image: (H, W, C) stacked pair or (H, W, 3) RGB optical image.
            data_sample: Sample with ``gt_instances`` / ``pred_instances``.
            draw_gt, draw_pred, show, wait_time, out_file, pred_score_thr,
                step: As in mmdet's ``DetLocalVisualizer.add_datasample``.
        """
        image, data_sample = self._with_sar(image, data_sample)
        super().add_datasample(
            name,
            image,
            data_sample=data_sample,
            draw_gt=draw_gt,
            draw_pred=draw_pred,
            show=show,
            wait_time=wait_time,
            out_file=out_file,
            pred_score_thr=pred_score_thr,
            step=step)
