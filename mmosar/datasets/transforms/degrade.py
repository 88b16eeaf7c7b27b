"""Low-quality input synthesis for detection on degraded imagery."""
from typing import Optional

import mmcv
from mmcv.transforms import BaseTransform
from mmdet.structures.bbox import BaseBoxes

from mmosar.registry import TRANSFORMS


@TRANSFORMS.register_module()
class DegradeResolution(BaseTransform):
    """Down-sample the image to simulate low-resolution imagery.

    The image is resized by ``scale`` (bicubic by default), the boxes are
    scaled with it and ``scale_factor`` is multiplied (not replaced), so
    predictions are mapped back to the original image as after any resize.
    SDCoNet degrades inside the model instead (after normalisation, keeping
    the HR image as its SR target); this transform gives a genuinely
    low-resolution dataset, e.g. to evaluate any detector on it.

    Required keys: ``img``. Modified keys: ``img``, ``img_shape``,
    ``scale_factor``, ``gt_bboxes`` (if present).

    Args:
        scale: Resize factor in ``(0, 1]`` (0.5 = x2 degradation).
        interpolation: mmcv interpolation (``'bicubic'``, ``'area'``...).
    """

    def __init__(self,
                 scale: float = 0.5,
                 interpolation: str = 'bicubic') -> None:
        if not 0 < scale <= 1:
            raise ValueError(f'scale must be in (0, 1], got {scale}')
        self.scale = scale
        self.interpolation = interpolation

    def transform(self, results: dict) -> Optional[dict]:
        img = results['img']
        height, width = img.shape[:2]
        new_w = max(1, round(width * self.scale))
        new_h = max(1, round(height * self.scale))
        results['img'] = mmcv.imresize(
            img, (new_w, new_h), interpolation=self.interpolation)
        w_scale, h_scale = new_w / width, new_h / height
        results['img_shape'] = (new_h, new_w)
        old_w, old_h = results.get('scale_factor', (1.0, 1.0))
        results['scale_factor'] = (old_w * w_scale, old_h * h_scale)
        boxes = results.get('gt_bboxes')
        if boxes is not None:
            if not isinstance(boxes, BaseBoxes):
                raise TypeError('DegradeResolution expects gt_bboxes as mmdet '
                                f'BaseBoxes, got {type(boxes).__name__} '
                                f'({results.get("img_path", "")})')
            boxes.rescale_((w_scale, h_scale))
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(scale={self.scale}, '
                f'interpolation={self.interpolation!r})')
