"""Rotated-box transforms: box type conversion and image rotation.

* ``ConvertBoxType``: convert ``results`` box fields (e.g. qbox -> rbox).
* ``Rotate``: rotate the image, boxes, masks and segmentation map by a fixed
  angle about the image centre (image size unchanged).
* ``RandomRotate``: a random angle in ``[-angle_range, angle_range]``.
* ``RandomChoiceRotate``: an angle picked from a list.

Images of any channel count are rotated as a whole: a paired optical + SAR
sample stacked as one H x W x C image (see ``LoadPairedImages``) is warped
with one matrix, so the modalities stay aligned. Angles are in degrees,
positive clockwise as seen in the image (like ``mmcv.imrotate`` and mmdet's
``rotate_``).

Objects whose label is in ``rect_obj_labels`` (round objects such as storage
tanks or roundabouts, annotated with axis-aligned boxes) keep axis-aligned
boxes: ``Rotate`` moves their centre but turns their box only by the multiple
of 90 degrees nearest to the angle, and the random variants rotate by a
multiple of 90 degrees whenever such an object is present.
"""
from typing import List, Optional, Sequence, Union

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmdet.structures.bbox import BaseBoxes
from mmdet.structures.mask import BitmapMasks

from mmosar.registry import TRANSFORMS

CV2_INTERPOLATIONS = {
    'nearest': cv2.INTER_NEAREST,
    'bilinear': cv2.INTER_LINEAR,
    'bicubic': cv2.INTER_CUBIC,
    'area': cv2.INTER_AREA,
    'lanczos': cv2.INTER_LANCZOS4,
}
#: right angles used when an image holds ``rect_obj_labels`` objects
RIGHT_ANGLES = (90, 180, -90, -180)


def warp_affine_any_channels(img: np.ndarray, matrix: np.ndarray,
                             interpolation: str,
                             border_value: float) -> np.ndarray:
    """``cv2.warpAffine`` for an H x W or H x W x C image with any C.

    The channels are warped in chunks of at most 4 (OpenCV's per-call channel
    limit for border values on some builds) with the same matrix, so every
    band moves identically.

    Args:
        img (np.ndarray): (H, W) or (H, W, C).
        matrix (np.ndarray): (2, 3) affine matrix in pixel-index coordinates.
        interpolation (str): Key of ``CV2_INTERPOLATIONS``.
        border_value (float): Value of pixels coming from outside.

    Returns:
        np.ndarray: Same shape and dtype as ``img``.
    """
    if interpolation not in CV2_INTERPOLATIONS:
        raise ValueError(f'Unknown interpolation {interpolation!r}; expected '
                         f'one of {sorted(CV2_INTERPOLATIONS)}.')
    height, width = img.shape[:2]
    flags = CV2_INTERPOLATIONS[interpolation]
    border = (border_value, ) * 4
    if img.ndim == 2:
        return cv2.warpAffine(
            img, matrix, (width, height), flags=flags, borderValue=border)
    chunks = []
    for start in range(0, img.shape[2], 4):
        chunk = np.ascontiguousarray(img[..., start:start + 4])
        warped = cv2.warpAffine(
            chunk, matrix, (width, height), flags=flags, borderValue=border)
        chunks.append(warped.reshape(height, width, chunk.shape[2]))
    return np.concatenate(chunks, axis=2)


@TRANSFORMS.register_module()
class ConvertBoxType(BaseTransform):
    """Convert box fields of ``results`` to other mmdet box types.

    Required keys: the keys of ``box_type_mapping`` (fields that are absent
    are skipped). Modified keys: the same.

    Args:
        box_type_mapping (dict): Field name -> destination box type, e.g.
            ``dict(gt_bboxes='rbox')``.
    """

    def __init__(self, box_type_mapping: dict) -> None:
        if not isinstance(box_type_mapping, dict) or not box_type_mapping:
            raise ValueError('box_type_mapping must be a non-empty dict such '
                             "as dict(gt_bboxes='rbox').")
        self.box_type_mapping = dict(box_type_mapping)

    def transform(self, results: dict) -> dict:
        """Convert each mapped field."""
        for key, dst_type in self.box_type_mapping.items():
            if key not in results:
                continue
            if not isinstance(results[key], BaseBoxes):
                raise TypeError(
                    f'ConvertBoxType: results[{key!r}] must be mmdet boxes '
                    f'(BaseBoxes), got {type(results[key]).__name__}; load '
                    'annotations with LoadAnnotations(box_type=...).')
            results[key] = results[key].convert_to(dst_type)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}('
                f'box_type_mapping={self.box_type_mapping})')


@TRANSFORMS.register_module()
class Rotate(BaseTransform):
    """Rotate image, boxes, masks and segmentation map by a fixed angle.

    The rotation is about the image centre and keeps the image size; boxes
    whose centre leaves the image are removed with their labels, ignore
    flags and masks.

    Required keys: ``img``. Optional: ``gt_bboxes`` (any mmdet box type),
    ``gt_bboxes_labels``, ``gt_ignore_flags``, ``gt_masks``, ``gt_seg_map``,
    ``homography_matrix``. Added key: ``rotate_angle``.

    Args:
        angle (float): Degrees, positive clockwise as seen in the image.
        rect_obj_labels (Sequence[int], optional): Labels whose boxes stay
            axis-aligned (see the module docstring).
        img_border_value (float): Fill value for the image. Defaults to 0.
        mask_border_value (int): Fill value for bitmap masks. Defaults to 0.
        seg_ignore_label (int): Fill value for ``gt_seg_map``.
            Defaults to 255.
        interpolation (str): Image interpolation, one of ``'nearest'``,
            ``'bilinear'``, ``'bicubic'``, ``'area'``, ``'lanczos'``.
            Defaults to ``'bilinear'``.
    """

    def __init__(self,
                 angle: float,
                 rect_obj_labels: Optional[Sequence[int]] = None,
                 img_border_value: float = 0,
                 mask_border_value: int = 0,
                 seg_ignore_label: int = 255,
                 interpolation: str = 'bilinear') -> None:
        if interpolation not in CV2_INTERPOLATIONS:
            raise ValueError(f'Unknown interpolation {interpolation!r}.')
        self.angle = float(angle)
        self.rect_obj_labels = list(rect_obj_labels or [])
        self.img_border_value = img_border_value
        self.mask_border_value = mask_border_value
        self.seg_ignore_label = seg_ignore_label
        self.interpolation = interpolation

    def _pixel_matrix(self, height: int, width: int) -> np.ndarray:
        """(2, 3) matrix in pixel-index coordinates (pixel centres at
        integers), i.e. about ((W-1)/2, (H-1)/2)."""
        return cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2),
                                       -self.angle, 1.0)

    def _rotate_boxes(self, results: dict, height: int, width: int) -> None:
        """Rotate ``gt_bboxes`` in place about the image centre."""
        boxes = results['gt_bboxes']
        # boxes live in continuous coordinates (pixel i covers [i, i + 1))
        center = (width / 2, height / 2)
        labels = results.get('gt_bboxes_labels')
        rect_inds = np.flatnonzero(
            np.isin(np.asarray(labels), self.rect_obj_labels)) if (
                self.rect_obj_labels and labels is not None) else []
        originals = [boxes[i:i + 1].clone() for i in rect_inds]
        boxes.rotate_(center, self.angle)
        right_angle = 90.0 * round(self.angle / 90.0)
        for i, box in zip(rect_inds, originals):
            # turn by the nearest right angle only, then move the centre to
            # where the exact rotation put it
            box.rotate_(center, right_angle)
            box.translate_((boxes.centers[i] - box.centers[0]).tolist())
            boxes[i:i + 1] = box

    def transform(self, results: dict) -> dict:
        """Rotate everything present in ``results``."""
        img = results['img']
        height, width = img.shape[:2]
        matrix = self._pixel_matrix(height, width)
        results['img'] = warp_affine_any_channels(img, matrix,
                                                  self.interpolation,
                                                  self.img_border_value)
        results['rotate_angle'] = self.angle
        # homography in continuous coordinates, like the boxes
        box_matrix = cv2.getRotationMatrix2D((width / 2, height / 2),
                                             -self.angle, 1.0)
        homography = np.vstack([box_matrix, [0, 0, 1]]).astype(np.float32)
        if results.get('homography_matrix') is not None:
            homography = homography @ results['homography_matrix']
        results['homography_matrix'] = homography
        if results.get('gt_seg_map') is not None:
            results['gt_seg_map'] = warp_affine_any_channels(
                results['gt_seg_map'], matrix, 'nearest',
                self.seg_ignore_label)
        if results.get('gt_masks') is not None:
            masks = results['gt_masks']
            if isinstance(masks, BitmapMasks):  # pixel-index coordinates
                center = ((width - 1) / 2, (height - 1) / 2)
            else:  # polygons: continuous coordinates
                center = (width / 2, height / 2)
            results['gt_masks'] = masks.rotate(
                (height, width),
                self.angle,
                center=center,
                border_value=self.mask_border_value)
        if results.get('gt_bboxes') is not None:
            self._rotate_boxes(results, height, width)
            keep = results['gt_bboxes'].is_inside((height, width)).numpy()
            for key in ('gt_bboxes', 'gt_bboxes_labels', 'gt_ignore_flags',
                        'gt_masks'):
                if results.get(key) is not None:
                    results[key] = results[key][keep]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(angle={self.angle}, '
                f'rect_obj_labels={self.rect_obj_labels}, '
                f'interpolation={self.interpolation!r})')


class BaseRandomRotate(BaseTransform):
    """Shared logic of the random rotations: draw an angle (or none), use a
    right angle when ``rect_obj_labels`` objects are present, and apply the
    ``rotate_type`` transform built with that angle.

    Args:
        rect_obj_labels (Sequence[int], optional): See the module docstring.
        rotate_type (str): Registered transform taking ``angle`` and
            ``rect_obj_labels`` (plus ``rotate_kwargs``). Defaults to
            ``'Rotate'``.
        **rotate_kwargs: More arguments of the rotate transform
            (``img_border_value``, ``interpolation``...).
    """

    def __init__(self,
                 rect_obj_labels: Optional[Sequence[int]] = None,
                 rotate_type: str = 'Rotate',
                 **rotate_kwargs) -> None:
        self.rect_obj_labels = list(rect_obj_labels or [])
        self.rotate_type = rotate_type
        self.rotate_kwargs = rotate_kwargs
        # looked up in mmosar's registry (not the current default scope's)
        self.rotate_cls = TRANSFORMS.get(rotate_type)
        if self.rotate_cls is None:
            raise KeyError(f'rotate_type {rotate_type!r} is not a registered '
                           'transform.')
        # build once so that bad arguments fail at construction time
        self._build_rotate(0.0)

    def _build_rotate(self, angle: float) -> BaseTransform:
        return self.rotate_cls(
            angle=angle,
            rect_obj_labels=self.rect_obj_labels,
            **self.rotate_kwargs)

    def _draw_angle(self) -> Optional[float]:
        """Random angle in degrees, or None for no rotation."""
        raise NotImplementedError

    @cache_randomness
    def _draw_right_angle(self) -> float:
        return float(np.random.choice(RIGHT_ANGLES))

    def _has_rect_objects(self, results: dict) -> bool:
        labels = results.get('gt_bboxes_labels')
        return bool(self.rect_obj_labels) and labels is not None and bool(
            np.isin(np.asarray(labels), self.rect_obj_labels).any())

    def transform(self, results: dict) -> dict:
        """Rotate by a random angle (or leave ``results`` unchanged)."""
        angle = self._draw_angle()
        if angle is None:
            return results
        if self._has_rect_objects(results):
            angle = self._draw_right_angle()
        return self._build_rotate(angle)(results)


@TRANSFORMS.register_module()
class RandomRotate(BaseRandomRotate):
    """With probability ``prob`` rotate by an angle drawn uniformly from
    ``[-angle_range, angle_range]`` degrees (a random right angle instead
    when ``rect_obj_labels`` objects are present).

    Args:
        prob (float): Probability of rotating. Defaults to 0.5.
        angle_range (float): Largest angle in degrees, in (0, 180].
            Defaults to 180.
        rect_obj_labels, rotate_type, **rotate_kwargs: see
            ``BaseRandomRotate``.
    """

    def __init__(self,
                 prob: float = 0.5,
                 angle_range: float = 180,
                 rect_obj_labels: Optional[Sequence[int]] = None,
                 rotate_type: str = 'Rotate',
                 **rotate_kwargs) -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1], got {prob}.')
        if not 0 < angle_range <= 180:
            raise ValueError(
                f'angle_range must be in (0, 180], got {angle_range}.')
        self.prob = prob
        self.angle_range = angle_range
        super().__init__(rect_obj_labels, rotate_type, **rotate_kwargs)

    @cache_randomness
    def _draw_angle(self) -> Optional[float]:
        if np.random.rand() >= self.prob:
            return None
        return float(self.angle_range * (2 * np.random.rand() - 1))

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(prob={self.prob}, '
                f'angle_range={self.angle_range}, '
                f'rect_obj_labels={self.rect_obj_labels}, '
                f'rotate_type={self.rotate_type!r})')


@TRANSFORMS.register_module()
class RandomChoiceRotate(BaseRandomRotate):
    """Rotate by one angle of a list (or not at all).

    Args:
        angles (Sequence[float]): Candidate angles in degrees.
        prob (float | Sequence[float]): Either the total probability of
            rotating (split evenly between ``angles``) or one probability
            per angle; the remainder ``1 - sum`` is the chance of no
            rotation. Defaults to 0.5.
        rect_obj_labels, rotate_type, **rotate_kwargs: see
            ``BaseRandomRotate``.
    """

    def __init__(self,
                 angles: Sequence[float],
                 prob: Union[float, Sequence[float]] = 0.5,
                 rect_obj_labels: Optional[Sequence[int]] = None,
                 rotate_type: str = 'Rotate',
                 **rotate_kwargs) -> None:
        if len(angles) == 0:
            raise ValueError('angles must not be empty.')
        probs = [prob / len(angles)] * len(angles) if isinstance(
            prob, (int, float)) else list(prob)
        if len(probs) != len(angles):
            raise ValueError(f'got {len(probs)} probabilities for '
                             f'{len(angles)} angles.')
        if min(probs) < 0 or sum(probs) > 1 + 1e-9:
            raise ValueError('probabilities must be >= 0 and sum to <= 1, '
                             f'got {probs}.')
        self.angles = [float(a) for a in angles]
        self.prob = prob
        self.choice_probs = probs + [max(0.0, 1 - sum(probs))]
        super().__init__(rect_obj_labels, rotate_type, **rotate_kwargs)

    @cache_randomness
    def _draw_angle(self) -> Optional[float]:
        choices: List[Optional[float]] = self.angles + [None]
        probs = np.asarray(self.choice_probs) / sum(self.choice_probs)
        return choices[np.random.choice(len(choices), p=probs)]

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(angles={self.angles}, '
                f'prob={self.prob}, rect_obj_labels={self.rect_obj_labels}, '
                f'rotate_type={self.rotate_type!r})')
