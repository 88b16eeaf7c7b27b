"""``RotLocalVisualizer``: mmdet's ``DetLocalVisualizer`` for rotated boxes.

Rotated (``RotatedBoxes`` or (N, 5) tensors) and quadrilateral
(``QuadriBoxes`` or (N, 8) tensors) boxes are drawn as polygons with the class
name and, for predictions, the score; horizontal boxes fall back to mmdet's
drawing.

Multi-band images (a paired optical + SAR sample stacked on the channel axis)
are shown as panels side by side, one per modality, with every box drawn on
each panel. The split follows ``modality_channels`` in the sample's
metainfo (e.g. ``dict(optical=3, sar=1)``); without it the first three
channels form one panel and the rest follow in groups of up to three.
"""
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import BaseBoxes, HorizontalBoxes
from mmdet.visualization import DetLocalVisualizer
from mmdet.visualization.palette import _get_adaptive_scales, get_palette
from mmengine.structures import InstanceData

from mmosar.registry import VISUALIZERS
from mmosar.structures.bbox import QuadriBoxes, RotatedBoxes


def polygon_corners(boxes) -> Optional[torch.Tensor]:
    """Corners (N, 4, 2) of rotated / quadrilateral boxes, or None for
    horizontal boxes (mmdet draws those)."""
    if isinstance(boxes, HorizontalBoxes):
        return None
    if isinstance(boxes,
                  BaseBoxes) and not isinstance(boxes,
                                                (RotatedBoxes, QuadriBoxes)):
        boxes = boxes.convert_to('qbox')
    if isinstance(boxes, RotatedBoxes):
        return boxes.corners
    if isinstance(boxes, QuadriBoxes):
        return boxes.points
    boxes = torch.as_tensor(boxes)
    if boxes.size(-1) == 5:
        return RotatedBoxes(boxes).corners
    if boxes.size(-1) == 8:
        return QuadriBoxes(boxes).points
    return None


def modality_panels(
        image: np.ndarray,
        modality_channels: Optional[Dict[str,
                                         int]] = None) -> List[np.ndarray]:
    """Split an H x W x C image into displayable H x W x 3 uint8 panels.

    Args:
        image (np.ndarray): (H, W) or (H, W, C).
        modality_channels (dict, optional): Channels per modality in order,
            e.g. ``dict(optical=3, sar=1)``; must sum to C.

    Returns:
        List[np.ndarray]: One RGB panel per modality. 3-channel groups are
        kept; other groups are shown as grey (channel mean). Non-uint8 data
        is min-max scaled to 0-255 per panel.
    """
    if image.ndim == 2:
        image = image[..., None]
    channels = image.shape[2]
    if modality_channels:
        sizes = [int(n) for n in modality_channels.values()]
        if sum(sizes) != channels:
            raise ValueError(
                f'modality_channels {dict(modality_channels)} sum to '
                f'{sum(sizes)} but the image has {channels} channels.')
    elif channels in (1, 3):
        sizes = [channels]
    else:
        sizes = [3] + [min(3, channels - s) for s in range(3, channels, 3)]
    panels, start = [], 0
    for size in sizes:
        group = image[..., start:start + size]
        start += size
        if size != 3:
            group = np.repeat(group.mean(axis=2, keepdims=True), 3, axis=2)
        if group.dtype != np.uint8:
            group = group.astype(np.float32)
            low, high = float(group.min()), float(group.max())
            group = (group - low) / max(high - low, 1e-6) * 255
        panels.append(group.clip(0, 255).astype(np.uint8))
    return panels


@VISUALIZERS.register_module()
class RotLocalVisualizer(DetLocalVisualizer):
    """Detection visualizer that draws rotated and quadrilateral boxes.

    Same arguments as mmdet's ``DetLocalVisualizer`` (``bbox_color``,
    ``text_color``, ``line_width``, ``alpha``...). Masks of rotated instances
    are not drawn.
    """

    def _draw_instances(self, image: np.ndarray, instances: InstanceData,
                        classes: Optional[Sequence[str]],
                        palette: Optional[List[tuple]]) -> np.ndarray:
        """Draw rotated boxes with class names (and scores), RGB out."""
        corners = polygon_corners(instances.bboxes) if ('bboxes'
                                                        in instances) else None
        if corners is None:
            return super()._draw_instances(image, instances, classes, palette)
        self.set_image(image)
        if len(corners) == 0:
            return self.get_image()
        corners = corners.detach().cpu().float()
        labels = [int(label) for label in instances.labels]
        max_label = max(labels)
        text_palette = get_palette(self.text_color, max_label + 1)
        bbox_palette = get_palette(
            palette if self.bbox_color is None else self.bbox_color,
            max_label + 1)
        self.draw_polygons(
            list(corners.numpy()),
            edge_colors=[bbox_palette[label] for label in labels],
            alpha=self.alpha,
            line_widths=self.line_width)
        # label at the top-most corner of each box
        top = corners[..., 1].argmin(dim=-1)
        positions = corners[torch.arange(len(corners)), top]
        x, y = corners.unbind(dim=-1)
        areas = ((x * y.roll(-1, -1) - x.roll(-1, -1) * y).sum(-1).abs() /
                 2).numpy()
        scales = _get_adaptive_scales(areas)
        for i, label in enumerate(labels):
            if 'label_names' in instances:
                text = instances.label_names[i]
            else:
                text = classes[label] if classes is not None else \
                    f'class {label}'
            if 'scores' in instances:
                text += f': {round(float(instances.scores[i]) * 100, 1)}'
            self.draw_texts(
                text,
                positions[i].numpy(),
                colors=text_palette[label],
                font_sizes=int(13 * scales[i]),
                bboxes=[{
                    'facecolor': 'black',
                    'alpha': 0.8,
                    'pad': 0.7,
                    'edgecolor': 'none'
                }])
        return self.get_image()

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
        """Draw gt / predictions like mmdet; multi-band images become
        side-by-side modality panels with the boxes repeated on each."""
        meta = data_sample.metainfo if data_sample is not None else {}
        panels = modality_panels(image, meta.get('modality_channels'))
        if len(panels) > 1 and data_sample is not None:
            data_sample = tile_instances(data_sample, len(panels),
                                         panels[0].shape[1])
        super().add_datasample(
            name,
            np.concatenate(panels, axis=1),
            data_sample=data_sample,
            draw_gt=draw_gt,
            draw_pred=draw_pred,
            show=show,
            wait_time=wait_time,
            out_file=out_file,
            pred_score_thr=pred_score_thr,
            step=step)


def tile_instances(data_sample: DetDataSample, num_panels: int,
                   panel_width: int) -> DetDataSample:
    """Copy of ``data_sample`` whose gt / pred instances repeat on each of
    ``num_panels`` side-by-side panels (boxes shifted by ``panel_width``);
    masks are dropped."""
    tiled = data_sample.clone()
    for key in ('gt_instances', 'pred_instances'):
        if key not in tiled:
            continue
        # clone: data_sample.clone() is shallow, keep the caller's untouched
        instances = getattr(tiled, key).clone()
        if 'masks' in instances:
            del instances.masks
        if 'bboxes' not in instances or len(instances) == 0:
            continue
        copies = []
        for k in range(num_panels):
            shifted = instances.clone()
            boxes = shifted.bboxes
            if isinstance(boxes, BaseBoxes):
                shifted.bboxes = boxes.clone()  # clone() above is shallow
                shifted.bboxes.translate_((k * panel_width, 0))
            else:
                step = boxes.new_zeros(boxes.size(-1))
                xs = [0] if boxes.size(-1) == 5 else list(
                    range(0, boxes.size(-1), 2))
                step[xs] = float(k * panel_width)
                shifted.bboxes = boxes + step
            copies.append(shifted)
        setattr(tiled, key, InstanceData.cat(copies))
    return tiled
