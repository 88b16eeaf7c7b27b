"""``RotatedBoxes``: mmdet box type ``'rbox'``, rows ``(cx, cy, w, h, t)``.

``t`` is in radians, clockwise in image coordinates (x right, y down): the
``w`` side points along ``(cos t, sin t)``. Angle conventions (``oc``,
``le90``, ``le135``) are described in
:mod:`mmosar.structures.bbox.angle_conventions`.

Because the class implements every member of mmdet's ``BaseBoxes``, mmdet's
``Resize``, ``RandomFlip``, ``Pad``, ``RandomCrop``, ``PackDetInputs`` and
heads work on rotated boxes unchanged. Geometric operations that do not map a
rectangle to a rectangle (anisotropic ``rescale_``, ``project_``, and
``clip_`` of a box crossing the border) map or cut the outline and fit the
exact minimum-area enclosing rectangle; the result keeps the encoding (which
side is ``w``, angle range) closest to the input's.
"""
import math
from typing import Optional, Sequence, Tuple, TypeVar, Union

import cv2
import numpy as np
import torch
from mmdet.structures.bbox import BaseBoxes, register_box
from mmdet.structures.mask.structures import BitmapMasks, PolygonMasks
from torch import BoolTensor, Tensor

from .angle_conventions import regularize_rboxes
from .box_geometry import clip_convex_polygon, points2rbox, rbox2corners
from .rotated_iou import rbbox_overlaps

T = TypeVar('T')
MaskType = Union[BitmapMasks, PolygonMasks]


def refit_corners(corners: Tensor, ref_angles: Tensor) -> Tensor:
    """Minimum-area rotated boxes of transformed corners, encoded like a
    reference.

    Args:
        corners (Tensor): Transformed corners, shape (..., 4, 2).
        ref_angles (Tensor): Wanted direction of the ``w`` side, radians,
            shape (...). Among the four encodings of each fitted rectangle
            (quarter turns, swapping ``w``/``h`` on odd turns) the one with
            angle closest to it is returned.

    Returns:
        Tensor: Rotated boxes, shape (..., 5).
    """
    fitted = points2rbox(corners)
    turns = torch.round((ref_angles - fitted[..., 4]) / (math.pi / 2))
    odd = (turns.remainder(2) == 1)
    w, h = fitted[..., 2], fitted[..., 3]
    return torch.stack([
        fitted[..., 0], fitted[..., 1],
        torch.where(odd, h, w),
        torch.where(odd, w, h), fitted[..., 4] + turns * (math.pi / 2)
    ],
                       dim=-1)


def apply_affine_to_points(points: Tensor, matrix: Tensor) -> Tensor:
    """Apply a (2, 3) affine or (3, 3) projective matrix to points (..., 2).
    """
    ones = points.new_ones(points.shape[:-1] + (1, ))
    homo = torch.cat([points, ones], dim=-1) @ matrix.transpose(0, 1)
    if matrix.size(0) == 3:
        return homo[..., :2] / homo[..., 2:3]
    return homo


def rotation_matrix(center: Tuple[float, float], angle: float,
                    like: Tensor) -> Tensor:
    """(2, 3) matrix rotating points ``angle`` degrees clockwise (as seen in
    the image, y down) about ``center``; same as
    ``cv2.getRotationMatrix2D(center, -angle, 1)``."""
    rad = angle / 180 * math.pi
    cos, sin = math.cos(rad), math.sin(rad)
    cx, cy = float(center[0]), float(center[1])
    return like.new_tensor([[cos, -sin, cx - cos * cx + sin * cy],
                            [sin, cos, cy - sin * cx - cos * cy]])


def masks_to_point_sets(masks: MaskType) -> Sequence[np.ndarray]:
    """Outline points of each instance mask, as float32 arrays (K, 2).

    Bitmap pixels are taken as unit squares (their four corners, so a one-pixel
    object has size 1 like mmdet's horizontal boxes); polygons give their
    vertices. Empty masks give an empty array.
    """
    if isinstance(masks, BitmapMasks):
        point_sets = []
        offsets = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], np.float32)
        for mask in masks.masks:
            ys, xs = np.nonzero(mask)
            if len(xs) == 0:
                point_sets.append(np.zeros((0, 2), np.float32))
                continue
            pixels = np.stack([xs, ys], axis=1).astype(np.float32)
            hull = cv2.convexHull(pixels).reshape(-1, 2)
            point_sets.append(
                (hull[:, None, :] + offsets[None]).reshape(-1, 2))
        return point_sets
    if isinstance(masks, PolygonMasks):
        point_sets = []
        for polys in masks.masks:
            points = [np.asarray(p, np.float32).reshape(-1, 2) for p in polys]
            point_sets.append(
                np.concatenate(points) if points else np.zeros((
                    0, 2), np.float32))
        return point_sets
    raise TypeError('masks must be BitmapMasks or PolygonMasks, '
                    f'got {type(masks)}.')


def point_sets_to_rboxes(point_sets: Sequence[np.ndarray]) -> Tensor:
    """Minimum-area rectangle (``'le90'``) of each point set; zeros if empty.

    Returns:
        Tensor: float32, shape (N, 5).
    """
    boxes = torch.zeros((len(point_sets), 5), dtype=torch.float32)
    for i, points in enumerate(point_sets):
        if len(points) == 0:
            continue
        hull = cv2.convexHull(points.astype(np.float32)).reshape(-1, 2)
        boxes[i] = points2rbox(
            torch.from_numpy(hull).double(), ordered_hull=True).float()
    return boxes


@register_box(name='rbox')
class RotatedBoxes(BaseBoxes):
    """Rotated boxes ``(cx, cy, w, h, t)``, shape (..., 5).

    ``t`` in radians, clockwise in image coordinates; see the module
    docstring and :mod:`~mmosar.structures.bbox.angle_conventions`.

    Args:
        data (Tensor | np.ndarray | Sequence): Box data, shape (..., 5).
        dtype (torch.dtype, optional): Data type. Defaults to None.
        device (str | torch.device, optional): Device. Defaults to None.
        clone (bool): Whether to copy ``data``. Defaults to True.
    """

    box_dim: int = 5

    def regularize_boxes(self,
                         pattern: Optional[str] = None,
                         width_longer: bool = True,
                         start_angle: float = -90) -> Tensor:
        """The boxes encoded in one angle convention (does not modify self).

        Args:
            pattern (str, optional): ``'oc'`` (``t`` in ``[-pi/2, 0)``),
                ``'le90'`` (``w >= h``, ``t`` in ``[-pi/2, pi/2)``) or
                ``'le135'`` (``w >= h``, ``t`` in ``[-pi/4, 3pi/4)``);
                overrides the next two arguments.
            width_longer (bool): Make ``w >= h``. Defaults to True.
            start_angle (float): Start of the angle range in degrees; the
                range is ``pi`` long if ``width_longer`` else ``pi/2``.
                Defaults to -90.

        Returns:
            Tensor: shape (..., 5).
        """
        return regularize_rboxes(self.tensor, pattern, width_longer,
                                 start_angle)

    @property
    def centers(self) -> Tensor:
        """Box centres, shape (..., 2)."""
        return self.tensor[..., :2]

    @property
    def areas(self) -> Tensor:
        """``w * h``, shape (...)."""
        return self.tensor[..., 2] * self.tensor[..., 3]

    @property
    def widths(self) -> Tensor:
        """``w``, shape (...)."""
        return self.tensor[..., 2]

    @property
    def heights(self) -> Tensor:
        """``h``, shape (...)."""
        return self.tensor[..., 3]

    @property
    def corners(self) -> Tensor:
        """Corners, shape (..., 4, 2) (order: see ``rbox2corners``)."""
        return rbox2corners(self.tensor)

    def flip_(self,
              img_shape: Tuple[int, int],
              direction: str = 'horizontal') -> None:
        """Flip in place.

        Args:
            img_shape (Tuple[int, int]): Image (height, width).
            direction (str): ``'horizontal'`` (``cx -> W - cx``, ``t -> -t``),
                ``'vertical'`` (``cy -> H - cy``, ``t -> -t``) or
                ``'diagonal'`` (both centre coordinates, ``t`` unchanged).
        """
        if direction not in ('horizontal', 'vertical', 'diagonal'):
            raise ValueError(f'Unknown flip direction {direction!r}.')
        boxes = self.tensor
        if direction in ('horizontal', 'diagonal'):
            boxes[..., 0] = img_shape[1] - boxes[..., 0]
        if direction in ('vertical', 'diagonal'):
            boxes[..., 1] = img_shape[0] - boxes[..., 1]
        if direction != 'diagonal':
            boxes[..., 4] = -boxes[..., 4]

    def translate_(self, distances: Tuple[float, float]) -> None:
        """Move the centres by ``(dx, dy)`` in place."""
        if len(distances) != 2:
            raise ValueError('distances must be (dx, dy).')
        self.tensor[..., :2] += self.tensor.new_tensor(distances)

    def clip_(self, img_shape: Tuple[int, int]) -> None:
        """Clip to the image in place: each box becomes the minimum-area
        rectangle of its intersection with ``[0, W] x [0, H]``.

        Boxes inside the image are unchanged. A box crossing the border is
        cut exactly (:func:`clip_convex_polygon`) and refitted (exact
        minimum-area rectangle, encoded closest to its angle), so the result
        contains the visible part and no more of the image than needed. A
        box wholly outside becomes a zero-size box at its centre clamped into
        the image (dropped by area filters, like mmdet's clipped horizontal
        boxes).

        Args:
            img_shape (Tuple[int, int]): Image (height, width).
        """
        img_h, img_w = float(img_shape[0]), float(img_shape[1])
        flat = self.tensor.reshape(-1, 5)
        corners = rbox2corners(flat)
        outside = ((corners[..., 0] < 0) | (corners[..., 0] > img_w) |
                   (corners[..., 1] < 0) | (corners[..., 1] > img_h)).any(-1)
        if not bool(outside.any()):
            return
        clipped = flat.clone()
        for i in torch.nonzero(outside).flatten().tolist():
            points = corners[i].detach().cpu().double().numpy()
            poly = clip_convex_polygon(points, img_w, img_h)
            if len(poly) < 3:
                clipped[i, 0] = flat[i, 0].clamp(0, img_w)
                clipped[i, 1] = flat[i, 1].clamp(0, img_h)
                clipped[i, 2:4] = 0
                continue
            points = torch.from_numpy(poly)
            ref = flat[i, 4].detach().cpu().double()
            clipped[i] = refit_corners(points[None], ref[None])[0].to(flat)
        self.tensor = clipped.reshape(self.tensor.shape)

    def rotate_(self, center: Tuple[float, float], angle: float) -> None:
        """Rotate in place about ``center`` by ``angle`` degrees, positive
        clockwise as seen in the image (like mmdet's boxes and
        ``mmcv.imrotate``)."""
        boxes = self.tensor
        matrix = rotation_matrix(center, angle, boxes)
        boxes[..., :2] = apply_affine_to_points(boxes[..., :2], matrix)
        boxes[..., 4] += angle / 180 * math.pi

    def project_(self, homography_matrix: Union[Tensor, np.ndarray]) -> None:
        """Map the corners through a (3, 3) homography and refit in place
        (minimum-area rectangle, encoding closest to the input's)."""
        boxes = self.tensor
        matrix = boxes.new_tensor(np.asarray(homography_matrix)) if \
            isinstance(homography_matrix, np.ndarray) else \
            homography_matrix.to(boxes)
        corners = apply_affine_to_points(rbox2corners(boxes), matrix)
        # corners 0 -> 1 run along the w side
        side = corners[..., 1, :] - corners[..., 0, :]
        self.tensor = refit_corners(corners,
                                    torch.atan2(side[..., 1], side[..., 0]))

    def rescale_(self, scale_factor: Tuple[float, float]) -> None:
        """Scale the image plane by ``(sx, sy)`` in place.

        With ``sx == sy`` centres, ``w`` and ``h`` scale and ``t`` is kept.
        Otherwise the rectangle becomes a parallelogram; the result is its
        minimum-area enclosing rectangle.
        """
        if len(scale_factor) != 2:
            raise ValueError('scale_factor must be (sx, sy).')
        sx, sy = float(scale_factor[0]), float(scale_factor[1])
        boxes = self.tensor
        if sx == sy:
            boxes[..., :4] *= sx
            return
        t = boxes[..., 4]
        ref = torch.atan2(sy * torch.sin(t), sx * torch.cos(t))
        corners = rbox2corners(boxes) * boxes.new_tensor([sx, sy])
        self.tensor = refit_corners(corners, ref)

    def resize_(self, scale_factor: Tuple[float, float]) -> None:
        """Scale ``w`` by ``sx`` and ``h`` by ``sy`` in place, keeping
        centres and angles."""
        if len(scale_factor) != 2:
            raise ValueError('scale_factor must be (sx, sy).')
        self.tensor[..., 2:4] *= self.tensor.new_tensor(scale_factor)

    def is_inside(self,
                  img_shape: Tuple[int, int],
                  all_inside: bool = False,
                  allowed_border: int = 0) -> BoolTensor:
        """Which boxes lie in the image.

        Args:
            img_shape (Tuple[int, int]): Image (height, width).
            all_inside (bool): If True, all four corners must be inside;
                otherwise the centre must be inside. Defaults to False.
            allowed_border (int): Margin added around the image.

        Returns:
            BoolTensor: shape (...).
        """
        img_h, img_w = img_shape
        points = self.corners if all_inside else self.centers[..., None, :]
        inside = (points[..., 0] >= -allowed_border) & \
            (points[..., 1] >= -allowed_border) & \
            (points[..., 0] < img_w + allowed_border) & \
            (points[..., 1] < img_h + allowed_border)
        return inside.all(dim=-1)

    def find_inside_points(self,
                           points: Tensor,
                           is_aligned: bool = False) -> BoolTensor:
        """Which points lie in which boxes (borders included).

        Args:
            points (Tensor): shape (M, 2).
            is_aligned (bool): Pair point i with box i (M == N).

        Returns:
            BoolTensor: (M, N), or (M, ) if ``is_aligned``.
        """
        boxes = self.tensor
        if boxes.dim() != 2:
            raise ValueError('find_inside_points needs boxes of shape (N, 5).')
        if not is_aligned:
            boxes, points = boxes[None], points[:, None]
        elif boxes.size(0) != points.size(0):
            raise ValueError('is_aligned needs as many points as boxes.')
        offset = points - boxes[..., :2]
        cos, sin = torch.cos(boxes[..., 4]), torch.sin(boxes[..., 4])
        along = offset[..., 0] * cos + offset[..., 1] * sin
        across = -offset[..., 0] * sin + offset[..., 1] * cos
        return (along.abs() <= boxes[..., 2] / 2) & \
            (across.abs() <= boxes[..., 3] / 2)

    def create_masks(self, img_shape: Tuple[int, int]) -> BitmapMasks:
        """Filled polygon bitmap of each box, (N, H, W)."""
        return polygons_to_bitmaps(self.corners, img_shape)

    @staticmethod
    def overlaps(boxes1: BaseBoxes,
                 boxes2: BaseBoxes,
                 mode: str = 'iou',
                 is_aligned: bool = False,
                 eps: float = 1e-6) -> Tensor:
        """Exact polygon IoU / IoF of two box sets converted to rboxes.

        ``eps`` is accepted for mmdet's ``BaseBoxes`` signature; the rotated
        IoU guards degenerate boxes itself (see ``rbbox_overlaps``).

        Returns:
            Tensor: (N, M), or (N, ) if ``is_aligned``.
        """
        return rbbox_overlaps(
            boxes1.convert_to('rbox').tensor,
            boxes2.convert_to('rbox').tensor,
            mode=mode,
            is_aligned=is_aligned)

    @staticmethod
    def from_instance_masks(masks: MaskType) -> 'RotatedBoxes':
        """Minimum-area rectangles (``'le90'``) of instance masks; an empty
        mask gives an all-zero box.

        Returns:
            RotatedBoxes: shape (N, 5), float32.
        """
        return RotatedBoxes(point_sets_to_rboxes(masks_to_point_sets(masks)))


def polygons_to_bitmaps(polygons: Tensor,
                        img_shape: Tuple[int, int]) -> BitmapMasks:
    """Rasterise polygons (N, K, 2) into ``BitmapMasks`` of (H, W)."""
    img_h, img_w = img_shape
    bitmaps = np.zeros((len(polygons), img_h, img_w), dtype=np.uint8)
    for bitmap, polygon in zip(bitmaps, polygons.detach().cpu().numpy()):
        cv2.fillPoly(bitmap, [np.round(polygon).astype(np.int32)], 1)
    return BitmapMasks(bitmaps, img_h, img_w)
