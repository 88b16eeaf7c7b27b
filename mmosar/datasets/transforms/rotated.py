"""Rotated-box transforms: box type conversion and image rotation.

* ``ConvertBoxType``: convert ``results`` box fields (e.g. qbox -> rbox).
* ``Rotate``: rotate the image, boxes, masks and segmentation map by a fixed
  angle about the image centre (image size unchanged).
* ``RandomRotate``: a random angle in ``[-angle_range, angle_range]``.
* ``RandomChoiceRotate``: an angle picked from a list.
* ``RandomCenteredAffine``: Ultralytics ``RandomPerspective`` (random zoom,
  rotation, shear, perspective about the image centre, centred crop) with
  the release's oriented-box path: resample, map, clip, refit with
  ``cv2.minAreaRect`` and filter with ``box_candidates``.
* ``RegularizeRotatedBoxes``: re-encode ``gt_bboxes`` in an angle convention
  (``'ultralytics'``: the released ``cv2.minAreaRect`` encoding).

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
import math
from typing import List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmdet.structures.bbox import BaseBoxes
from mmdet.structures.mask import BitmapMasks
from torch import Tensor

from mmosar.registry import TRANSFORMS
from mmosar.structures.bbox import RotatedBoxes

CV2_INTERPOLATIONS = {
    'nearest': cv2.INTER_NEAREST,
    'bilinear': cv2.INTER_LINEAR,
    'bicubic': cv2.INTER_CUBIC,
    'area': cv2.INTER_AREA,
    'lanczos': cv2.INTER_LANCZOS4,
}
#: right angles used when an image holds ``rect_obj_labels`` objects
RIGHT_ANGLES = (90, 180, -90, -180)


def warp_affine_any_channels(img: np.ndarray,
                             matrix: np.ndarray,
                             interpolation: str,
                             border_value: float,
                             dsize: Optional[Tuple[int, int]] = None
                             ) -> np.ndarray:
    """``cv2.warpAffine`` / ``cv2.warpPerspective`` for any channel count.

    The channels are warped in chunks of at most 4 (OpenCV applies a border
    value as a 4-element scalar) with the same matrix, so every band moves
    identically and every band gets ``border_value``.

    Args:
        img (np.ndarray): (H, W) or (H, W, C).
        matrix (np.ndarray): (2, 3) affine or (3, 3) projective matrix in
            pixel-index coordinates.
        interpolation (str): Key of ``CV2_INTERPOLATIONS``.
        border_value (float | Sequence[float]): Value of pixels coming
            from outside: one number for every band, or one per band.
        dsize (Tuple[int, int], optional): Output (width, height); the
            input size when None.

    Returns:
        np.ndarray: (H', W') or (H', W', C), same dtype as ``img``.
    """
    if interpolation not in CV2_INTERPOLATIONS:
        raise ValueError(f'Unknown interpolation {interpolation!r}; expected '
                         f'one of {sorted(CV2_INTERPOLATIONS)}.')
    width, height = dsize if dsize is not None else img.shape[1::-1]
    bands = 1 if img.ndim == 2 else img.shape[2]
    values = np.broadcast_to(np.asarray(border_value, np.float64),
                             (bands, )) if np.ndim(border_value) == 0 else \
        np.asarray(border_value, np.float64)
    if values.shape != (bands, ):
        raise ValueError(f'border_value {border_value} must be one number or '
                         f'one per band ({bands} bands)')
    matrix = np.asarray(matrix)
    warp = cv2.warpPerspective if matrix.shape == (3, 3) else cv2.warpAffine
    kwargs = dict(
        dsize=(int(width), int(height)),
        flags=CV2_INTERPOLATIONS[interpolation])
    if img.ndim == 2:
        return warp(img, matrix, borderValue=(values[0], ) * 4, **kwargs)
    chunks = []
    for start in range(0, bands, 4):
        chunk = np.ascontiguousarray(img[..., start:start + 4])
        border = tuple(values[start:start + 4]) + (0.0, ) * 3
        warped = warp(chunk, matrix, borderValue=border[:4], **kwargs)
        chunks.append(warped.reshape(int(height), int(width), chunk.shape[2]))
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


def resample_polygons(polygons: np.ndarray, num_points: int) -> np.ndarray:
    """Points spaced evenly in vertex index along closed polygons.

    The outline ``p_0 -> p_1 -> ... -> p_{K-1} -> p_0`` is parametrised by
    ``u`` in ``[0, K]`` (``u = k`` at vertex ``k``, linear in between) and
    sampled at ``u_j = j K / (num_points - 1)``, ``j = 0..num_points-1``, as
    Ultralytics' ``resample_segments`` does for oriented boxes (100 points).

    Args:
        polygons (np.ndarray): (N, K, 2) vertices in order.
        num_points (int): Points per polygon.

    Returns:
        np.ndarray: (N, num_points, 2), float32 like the release's.
    """
    polygons = np.asarray(polygons)
    num, num_vertices = polygons.shape[:2]
    closed = np.concatenate([polygons, polygons[:, :1]], axis=1)
    u = np.linspace(0, num_vertices, num_points)
    knots = np.arange(num_vertices + 1)
    out = np.empty((num, num_points, 2), dtype=np.float32)
    for i in range(num):
        for axis in range(2):
            out[i, :, axis] = np.interp(u, knots, closed[i, :, axis])
    return out


def box_candidates(boxes_before: np.ndarray,
                   boxes_after: np.ndarray,
                   min_wh: float = 2.0,
                   max_aspect: float = 100.0,
                   min_area_ratio: float = 0.1,
                   eps: float = 1e-16) -> np.ndarray:
    """Which boxes survive a geometric augmentation (Ultralytics rule).

    With ``(w1, h1)`` the size of an axis-aligned box before (already scaled
    by the augmentation's zoom) and ``(w2, h2)`` after, a box is kept when
    ``w2 > min_wh``, ``h2 > min_wh``,
    ``w2 h2 / (w1 h1 + eps) > min_area_ratio`` and
    ``max(w2 / (h2 + eps), h2 / (w2 + eps)) < max_aspect``.

    Args:
        boxes_before (np.ndarray): (N, 4) ``x1, y1, x2, y2``.
        boxes_after (np.ndarray): (N, 4) ``x1, y1, x2, y2``.
        min_wh, max_aspect, min_area_ratio, eps: See above.

    Returns:
        np.ndarray: bool (N, ).
    """
    w1 = boxes_before[:, 2] - boxes_before[:, 0]
    h1 = boxes_before[:, 3] - boxes_before[:, 1]
    w2 = boxes_after[:, 2] - boxes_after[:, 0]
    h2 = boxes_after[:, 3] - boxes_after[:, 1]
    aspect = np.maximum(w2 / (h2 + eps), h2 / (w2 + eps))
    return (w2 > min_wh) & (h2 > min_wh) & (
        w2 * h2 / (w1 * h1 + eps) > min_area_ratio) & (aspect < max_aspect)


def _box_polygons(boxes: BaseBoxes) -> np.ndarray:
    """Corners (N, 4, 2), float32, of rotated, quadrilateral or horizontal
    boxes."""
    if boxes.box_dim != 8:
        boxes = boxes.convert_to('qbox')
    return boxes.tensor.reshape(-1, 4, 2).float().numpy().copy()


def _inside_extent(points: np.ndarray, width: float,
                   height: float) -> np.ndarray:
    """Axis-aligned box (N, 4) of the points of each polygon that lie in
    ``[0, W] x [0, H]``; zeros for a polygon with no such point."""
    inside = (points[..., 0] >= 0) & (points[..., 1] >= 0) & (
        points[..., 0] <= width) & (points[..., 1] <= height)
    any_inside = inside.any(axis=1)
    big = np.float32(np.inf)
    x_lo = np.where(inside, points[..., 0], big).min(axis=1)
    y_lo = np.where(inside, points[..., 1], big).min(axis=1)
    x_hi = np.where(inside, points[..., 0], -big).max(axis=1)
    y_hi = np.where(inside, points[..., 1], -big).max(axis=1)
    extent = np.stack([x_lo, y_lo, x_hi, y_hi], axis=1)
    return np.where(any_inside[:, None], extent, np.float32(0))


def ultralytics_encoding(boxes: Tensor) -> Tensor:
    """Encode rotated boxes as the release's ``cv2.minAreaRect`` does.

    OpenCV 4.5.1 to 4.10 (the release pins 4.10.0.82) return ``t`` in
    ``[0, pi/2]``: ``(0, pi/2)`` for a tilted rectangle, and ``pi/2``
    (``w`` = height) or, for some clipped outlines, ``0`` for an upright
    one. OpenCV 4.14 returns ``[-pi/2, 0)`` instead. This wraps ``t`` into
    ``(-pi/2, pi/2]`` (``1e-6`` slack for float32 ``pi/2``) and turns a
    negative angle by a quarter (swapping ``w`` and ``h``), so OpenCV 4.14
    results get the OpenCV 4.10 encoding and 4.10 results are unchanged.

    Args:
        boxes (Tensor): ``(cx, cy, w, h, t)``, shape (N, 5).

    Returns:
        Tensor: The same rectangles, shape (N, 5), same dtype.
    """
    out = boxes.double().clone()
    top = math.pi / 2 + 1e-6
    angle = top - torch.remainder(top - out[:, 4], math.pi)
    turn = angle < 0
    out[:, 4] = torch.where(turn, angle + math.pi / 2, angle)
    out[turn] = out[turn][:, [0, 1, 3, 2, 4]]
    return out.to(boxes.dtype)


def min_area_rects(polygons: np.ndarray) -> Tensor:
    """``cv2.minAreaRect`` of each point set, in the release's encoding.

    Args:
        polygons (np.ndarray): (N, K, 2) float32.

    Returns:
        Tensor: (N, 5) float32 ``(cx, cy, w, h, t)``, ``t`` in radians
        (:func:`ultralytics_encoding`), whatever the installed OpenCV.
    """
    rects = np.zeros((len(polygons), 5), dtype=np.float64)
    for i, points in enumerate(polygons):
        (cx, cy), (w, h), angle = cv2.minAreaRect(points.astype(np.float32))
        rects[i] = (cx, cy, w, h, angle / 180 * math.pi)
    return ultralytics_encoding(torch.from_numpy(rects)).float()


@TRANSFORMS.register_module()
class RandomCenteredAffine(BaseTransform):
    """Random affine / perspective warp about the image centre (Ultralytics
    ``RandomPerspective``) for images of any band count and oriented boxes.

    With ``(W, H)`` the input size and ``(W', H')`` the output size
    (``output_size``, else ``(W + 2 bx, H + 2 by)`` for ``border=(bx, by)``,
    e.g. ``(-256, -256)`` crops a 1024 mosaic canvas to 512), points map as
    ``p' ~ T S R P C p`` (homogeneous) with

    * ``C``: translation by ``(-W/2, -H/2)`` (input centre to the origin),
    * ``P``: perspective ``P[2, 0], P[2, 1] ~ U(-perspective, perspective)``,
    * ``R``: ``cv2.getRotationMatrix2D((0, 0), a, s)``,
      ``a ~ U(-degrees, degrees)``, ``s ~ U(1 - scale, 1 + scale)``,
    * ``S``: shear ``S[0, 1], S[1, 0] = tan(U(-shear, shear) deg)``,
    * ``T``: translation to ``(U(0.5 - translate, 0.5 + translate) W',
      U(0.5 - translate, 0.5 + translate) H')``,

    so the zoom is about the input centre and the crop is centred on it up to
    ``translate``. Every band is warped with the same matrix (paired optical
    + SAR images stay aligned) and filled with ``border_val``.

    Boxes (``'rbox'``, ``'qbox'`` or ``'hbox'``) follow the release's
    oriented-box path: each box outline is resampled to ``num_points``
    points (:func:`resample_polygons`), optionally clamped to the input
    (``clip_input``: the mosaic canvas clamp), mapped, clamped to the
    extent of its points inside the output and then to the output, and
    refitted with ``cv2.minAreaRect`` (the release's encoding, see
    :func:`ultralytics_encoding`); the result is ``'rbox'``. A box is kept
    if :func:`box_candidates` accepts its axis-aligned extent before (times
    ``s``) and after (inside points only).

    Required keys: ``img``. Optional: ``gt_bboxes``, ``gt_bboxes_labels``,
    ``gt_ignore_flags``, ``homography_matrix``. Modified: ``img``,
    ``img_shape``, the ``gt_*`` keys, ``homography_matrix``. Masks and
    segmentation maps are not supported (an error).

    Args:
        degrees (float): Largest rotation in degrees.
        translate (float): Largest offset of the crop centre, as a fraction
            of the output size.
        scale (float): Zoom in ``[1 - scale, 1 + scale]``.
        shear (float): Largest shear angle in degrees.
        perspective (float): Largest perspective coefficient.
        border (Tuple[int, int]): ``(bx, by)`` added on each side.
        output_size (Tuple[int, int], optional): ``(W', H')``; overrides
            ``border`` (for the no-mosaic path after a keep-ratio resize).
        border_val (float | Sequence[float]): Fill value, one for every
            band or one per band. The release passes ``(114, 114, 114)``
            to OpenCV, which fills a 6-band image with
            ``(114, 114, 114, 0, 114, 114)``.
        interpolation (str): Image interpolation. Defaults to bilinear.
        clip_input (bool): Clamp the box points to the input first.
        num_points (int): Points per resampled box outline.
        min_wh (float), max_aspect (float), min_area_ratio (float): See
            :func:`box_candidates`. ``min_area_ratio=0.01`` is what the
            release uses for oriented boxes (its detection-only value is
            0.1).
    """

    def __init__(self,
                 degrees: float = 0.0,
                 translate: float = 0.1,
                 scale: float = 0.5,
                 shear: float = 0.0,
                 perspective: float = 0.0,
                 border: Tuple[int, int] = (0, 0),
                 output_size: Optional[Tuple[int, int]] = None,
                 border_val: float = 114,
                 interpolation: str = 'bilinear',
                 clip_input: bool = False,
                 num_points: int = 100,
                 min_wh: float = 2.0,
                 max_aspect: float = 100.0,
                 min_area_ratio: float = 0.01) -> None:
        if interpolation not in CV2_INTERPOLATIONS:
            raise ValueError(f'Unknown interpolation {interpolation!r}.')
        if not 0 <= scale < 1 or not 0 <= translate <= 0.5:
            raise ValueError('need 0 <= scale < 1 and 0 <= translate <= 0.5, '
                             f'got scale={scale}, translate={translate}')
        if num_points < 4:
            raise ValueError(f'num_points must be >= 4, got {num_points}')
        self.degrees = degrees
        self.translate = translate
        self.scale = scale
        self.shear = shear
        self.perspective = perspective
        self.border = tuple(border)
        self.output_size = tuple(output_size) if output_size else None
        self.border_val = border_val
        self.interpolation = interpolation
        self.clip_input = clip_input
        self.num_points = num_points
        self.min_wh = min_wh
        self.max_aspect = max_aspect
        self.min_area_ratio = min_area_ratio

    def _output_size(self, height: int, width: int) -> Tuple[int, int]:
        """Output (W', H')."""
        if self.output_size is not None:
            return self.output_size
        out = (width + 2 * self.border[0], height + 2 * self.border[1])
        if min(out) <= 0:
            raise ValueError(f'border={self.border} leaves no image of a '
                             f'{width}x{height} input')
        return out

    @cache_randomness
    def _random_matrix(self, height: int, width: int,
                       out_size: Tuple[int, int]) -> Tuple[np.ndarray, float]:
        """The float32 (3, 3) matrix ``T S R P C`` and the zoom ``s`` (the
        release's draws, in its order and precision)."""
        center, persp, rot, shear, trans = (
            np.eye(3, dtype=np.float32) for _ in range(5))
        center[0, 2], center[1, 2] = -width / 2, -height / 2
        persp[2, 0] = np.random.uniform(-self.perspective, self.perspective)
        persp[2, 1] = np.random.uniform(-self.perspective, self.perspective)
        angle = np.random.uniform(-self.degrees, self.degrees)
        zoom = np.random.uniform(1 - self.scale, 1 + self.scale)
        rot[:2] = cv2.getRotationMatrix2D(
            center=(0, 0), angle=angle, scale=zoom)
        shear[0, 1] = math.tan(
            np.random.uniform(-self.shear, self.shear) * math.pi / 180)
        shear[1, 0] = math.tan(
            np.random.uniform(-self.shear, self.shear) * math.pi / 180)
        low, high = 0.5 - self.translate, 0.5 + self.translate
        trans[0, 2] = np.random.uniform(low, high) * out_size[0]
        trans[1, 2] = np.random.uniform(low, high) * out_size[1]
        return trans @ shear @ rot @ persp @ center, float(zoom)

    def _warp_boxes(self, results: dict, matrix: np.ndarray, zoom: float,
                    in_size: Tuple[int, int],
                    out_size: Tuple[int, int]) -> None:
        """Map, clip, refit and filter the boxes (see the class docstring);
        float32 as in the release."""
        corners = _box_polygons(results['gt_bboxes'])
        points = resample_polygons(corners, self.num_points)
        if self.clip_input:
            for pts in (corners, points):
                pts[..., 0] = pts[..., 0].clip(0, in_size[0])
                pts[..., 1] = pts[..., 1].clip(0, in_size[1])
        # extent of the (clamped) corners, zoomed: the release's "box1"
        before = np.concatenate([corners.min(axis=1),
                                 corners.max(axis=1)], axis=1) * zoom
        homo = np.concatenate([points, np.ones_like(points[..., :1])], -1)
        mapped = homo.reshape(-1, 3) @ matrix.T
        points = (mapped[:, :2] / mapped[:, 2:3]).reshape(points.shape)
        after = _inside_extent(points, *out_size)
        points[..., 0] = points[..., 0].clip(after[:, None, 0],
                                             after[:, None, 2])
        points[..., 1] = points[..., 1].clip(after[:, None, 1],
                                             after[:, None, 3])
        points[..., 0] = points[..., 0].clip(0, out_size[0])
        points[..., 1] = points[..., 1].clip(0, out_size[1])
        keep = box_candidates(before, after, self.min_wh, self.max_aspect,
                              self.min_area_ratio)
        results['gt_bboxes'] = RotatedBoxes(min_area_rects(points[keep]))
        for key in ('gt_bboxes_labels', 'gt_ignore_flags'):
            if results.get(key) is not None:
                results[key] = results[key][keep]

    def transform(self, results: dict) -> dict:
        """Warp the image and the boxes."""
        for key in ('gt_masks', 'gt_seg_map'):
            if results.get(key) is not None:
                raise NotImplementedError(
                    f'RandomCenteredAffine warps images and boxes only; '
                    f'results[{key!r}] would be left unwarped')
        img = results['img']
        height, width = img.shape[:2]
        out_size = self._output_size(height, width)
        matrix, zoom = self._random_matrix(height, width, out_size)
        warp_matrix = matrix if self.perspective else matrix[:2]
        results['img'] = warp_affine_any_channels(img, warp_matrix,
                                                  self.interpolation,
                                                  self.border_val, out_size)
        results['img_shape'] = results['img'].shape[:2]
        if results.get('homography_matrix') is not None:
            matrix_total = matrix @ results['homography_matrix']
        else:
            matrix_total = matrix
        results['homography_matrix'] = matrix_total.astype(np.float32)
        if results.get('gt_bboxes') is not None:
            self._warp_boxes(results, matrix, zoom, (width, height),
                             out_size)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(degrees={self.degrees}, '
                f'translate={self.translate}, scale={self.scale}, '
                f'shear={self.shear}, perspective={self.perspective}, '
                f'border={self.border}, output_size={self.output_size}, '
                f'border_val={self.border_val}, '
                f'clip_input={self.clip_input}, '
                f'num_points={self.num_points}, min_wh={self.min_wh}, '
                f'max_aspect={self.max_aspect}, '
                f'min_area_ratio={self.min_area_ratio})')


@TRANSFORMS.register_module()
class RegularizeRotatedBoxes(BaseTransform):
    """Re-encode ``gt_bboxes`` (rotated boxes) in one angle convention.

    ``pattern`` is ``'oc'``, ``'le90'``, ``'le135'`` (see
    :func:`mmosar.structures.bbox.regularize_rboxes`) or ``'ultralytics'``
    (``t`` in ``(0, pi/2]``, :func:`ultralytics_encoding`), the encoding the
    release's ``cv2.minAreaRect`` gives after its flips. Put it after the
    last geometric transform.

    Required / modified keys: ``gt_bboxes`` (``'rbox'``).

    Args:
        pattern (str): The convention.
    """

    PATTERNS = ('oc', 'le90', 'le135', 'ultralytics')

    def __init__(self, pattern: str = 'ultralytics') -> None:
        if pattern not in self.PATTERNS:
            raise ValueError(f'pattern must be one of {self.PATTERNS}, got '
                             f'{pattern!r}')
        self.pattern = pattern

    def transform(self, results: dict) -> dict:
        """Re-encode the boxes (same rectangles)."""
        boxes = results.get('gt_bboxes')
        if boxes is None:
            return results
        if not isinstance(boxes, RotatedBoxes):
            raise TypeError('RegularizeRotatedBoxes needs rotated boxes '
                            f"('rbox'), got {type(boxes).__name__}")
        if self.pattern == 'ultralytics':
            tensor = ultralytics_encoding(boxes.tensor.reshape(-1, 5))
        else:
            tensor = boxes.regularize_boxes(self.pattern)
        results['gt_bboxes'] = RotatedBoxes(tensor)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(pattern={self.pattern!r})'
