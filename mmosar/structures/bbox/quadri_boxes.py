"""``QuadriBoxes``: mmdet box type ``'qbox'``, rows ``(x1, y1, ..., x4, y4)``.

The four corners of a quadrilateral in order around it (DOTA polygon
annotations). Every geometric operation maps the points themselves, so a
quadrilateral stays exact under flips, rotations, scaling and projections.
"""
from typing import Tuple, Union

import numpy as np
import torch
from mmdet.structures.bbox import BaseBoxes, register_box
from mmdet.structures.mask.structures import BitmapMasks, PolygonMasks
from torch import BoolTensor, Tensor

from .box_geometry import rbox2qbox
from .rotated_boxes import (
    RotatedBoxes,
    apply_affine_to_points,
    polygons_to_bitmaps,
    rotation_matrix,
)
from .rotated_iou import exact_quad_overlaps

MaskType = Union[BitmapMasks, PolygonMasks]


@register_box(name='qbox')
class QuadriBoxes(BaseBoxes):
    """Quadrilaterals ``(x1, y1, x2, y2, x3, y3, x4, y4)``, shape (..., 8).

    Args:
        data (Tensor | np.ndarray | Sequence): Box data, shape (..., 8).
        dtype (torch.dtype, optional): Data type. Defaults to None.
        device (str | torch.device, optional): Device. Defaults to None.
        clone (bool): Whether to copy ``data``. Defaults to True.
    """

    box_dim: int = 8

    @property
    def points(self) -> Tensor:
        """Corners, shape (..., 4, 2) (a view of the data)."""
        return self.tensor.unflatten(-1, (4, 2))

    @property
    def centers(self) -> Tensor:
        """Mean of the four corners, shape (..., 2)."""
        return self.points.mean(dim=-2)

    @property
    def areas(self) -> Tensor:
        """Polygon area (shoelace formula, unsigned), shape (...)."""
        x, y = self.points.unbind(dim=-1)
        cross = x * y.roll(-1, dims=-1) - x.roll(-1, dims=-1) * y
        return cross.sum(dim=-1).abs() / 2

    @property
    def widths(self) -> Tensor:
        """Width of the enclosing horizontal box, shape (...)."""
        x = self.points[..., 0]
        return x.amax(dim=-1) - x.amin(dim=-1)

    @property
    def heights(self) -> Tensor:
        """Height of the enclosing horizontal box, shape (...)."""
        y = self.points[..., 1]
        return y.amax(dim=-1) - y.amin(dim=-1)

    def flip_(self,
              img_shape: Tuple[int, int],
              direction: str = 'horizontal') -> None:
        """Mirror the corners in place (``'horizontal'``: ``x -> W - x``,
        ``'vertical'``: ``y -> H - y``, ``'diagonal'``: both)."""
        if direction not in ('horizontal', 'vertical', 'diagonal'):
            raise ValueError(f'Unknown flip direction {direction!r}.')
        boxes = self.tensor
        if direction in ('horizontal', 'diagonal'):
            boxes[..., 0::2] = img_shape[1] - boxes[..., 0::2]
        if direction in ('vertical', 'diagonal'):
            boxes[..., 1::2] = img_shape[0] - boxes[..., 1::2]

    def translate_(self, distances: Tuple[float, float]) -> None:
        """Move every corner by ``(dx, dy)`` in place."""
        if len(distances) != 2:
            raise ValueError('distances must be (dx, dy).')
        self.tensor = self.tensor + self.tensor.new_tensor(distances).repeat(4)

    def clip_(self, img_shape: Tuple[int, int]) -> None:
        """Clamp every corner into the image in place (like mmdet's
        horizontal boxes; the shape of a partly outside box changes)."""
        boxes = self.tensor
        boxes[..., 0::2] = boxes[..., 0::2].clamp(0, img_shape[1])
        boxes[..., 1::2] = boxes[..., 1::2].clamp(0, img_shape[0])

    def rotate_(self, center: Tuple[float, float], angle: float) -> None:
        """Rotate the corners about ``center`` by ``angle`` degrees, positive
        clockwise as seen in the image, in place."""
        matrix = rotation_matrix(center, angle, self.tensor)
        self.tensor = apply_affine_to_points(self.points, matrix).flatten(-2)

    def project_(self, homography_matrix: Union[Tensor, np.ndarray]) -> None:
        """Map the corners through a (3, 3) homography in place."""
        matrix = self.tensor.new_tensor(np.asarray(homography_matrix)) if \
            isinstance(homography_matrix, np.ndarray) else \
            homography_matrix.to(self.tensor)
        self.tensor = apply_affine_to_points(self.points, matrix).flatten(-2)

    def rescale_(self, scale_factor: Tuple[float, float]) -> None:
        """Scale the corners by ``(sx, sy)`` in place."""
        if len(scale_factor) != 2:
            raise ValueError('scale_factor must be (sx, sy).')
        self.tensor = self.tensor * self.tensor.new_tensor(
            scale_factor).repeat(4)

    def resize_(self, scale_factor: Tuple[float, float]) -> None:
        """Scale the corners about the centre by ``(sx, sy)`` in place."""
        if len(scale_factor) != 2:
            raise ValueError('scale_factor must be (sx, sy).')
        centers = self.centers[..., None, :]
        scale = self.tensor.new_tensor(scale_factor)
        self.tensor = ((self.points - centers) * scale + centers).flatten(-2)

    def is_inside(self,
                  img_shape: Tuple[int, int],
                  all_inside: bool = False,
                  allowed_border: int = 0) -> BoolTensor:
        """Which boxes lie in the image.

        Args:
            img_shape (Tuple[int, int]): Image (height, width).
            all_inside (bool): If True all corners must be inside; otherwise
                the enclosing horizontal box must overlap the image (the rule
                of mmdet's horizontal boxes, so a box clipped to the border
                from outside is dropped). Defaults to False.
            allowed_border (int): Margin added around the image.

        Returns:
            BoolTensor: shape (...).
        """
        img_h, img_w = img_shape
        x, y = self.points.unbind(dim=-1)
        if all_inside:
            return ((x >= -allowed_border) & (y >= -allowed_border) &
                    (x < img_w + allowed_border) &
                    (y < img_h + allowed_border)).all(dim=-1)
        return (x.amin(dim=-1) < img_w + allowed_border) & \
            (y.amin(dim=-1) < img_h + allowed_border) & \
            (x.amax(dim=-1) > -allowed_border) & \
            (y.amax(dim=-1) > -allowed_border)

    def find_inside_points(self,
                           points: Tensor,
                           is_aligned: bool = False) -> BoolTensor:
        """Which points lie in which (convex) quadrilaterals, borders
        included; either corner orientation works.

        Args:
            points (Tensor): shape (M, 2).
            is_aligned (bool): Pair point i with box i (M == N).

        Returns:
            BoolTensor: (M, N), or (M, ) if ``is_aligned``.
        """
        corners = self.points
        if corners.dim() != 3:
            raise ValueError('find_inside_points needs boxes of shape (N, 8).')
        if not is_aligned:
            corners, points = corners[None], points[:, None]
        elif corners.size(0) != points.size(0):
            raise ValueError('is_aligned needs as many points as boxes.')
        edges = corners.roll(-1, dims=-2) - corners  # (..., 4, 2)
        rel = points[..., None, :] - corners
        cross = edges[..., 0] * rel[..., 1] - edges[..., 1] * rel[..., 0]
        return (cross >= 0).all(dim=-1) | (cross <= 0).all(dim=-1)

    def create_masks(self, img_shape: Tuple[int, int]) -> BitmapMasks:
        """Filled polygon bitmap of each box, (N, H, W)."""
        return polygons_to_bitmaps(self.points, img_shape)

    @staticmethod
    def overlaps(boxes1: BaseBoxes,
                 boxes2: BaseBoxes,
                 mode: str = 'iou',
                 is_aligned: bool = False,
                 eps: float = 1e-6) -> Tensor:
        """Exact IoU / IoF of convex quadrilaterals (float64 polygon
        intersection, see ``exact_quad_overlaps``; mmcv's ``box_iou_quadri``
        shares the parallel-edge inaccuracy of its rotated kernel). ``eps``
        is accepted for the ``BaseBoxes`` signature and unused.

        Returns:
            Tensor: (N, M), or (N, ) if ``is_aligned``; dtype of ``boxes1``.
        """
        if mode not in ('iou', 'iof'):
            raise ValueError(f"mode must be 'iou' or 'iof', got {mode!r}.")
        q1 = boxes1.convert_to('qbox').tensor.detach()
        q2 = boxes2.convert_to('qbox').tensor.detach().to(q1)
        rows, cols = len(q1), len(q2)
        if is_aligned and rows != cols:
            raise ValueError('is_aligned needs as many boxes in both sets, '
                             f'got {rows} and {cols}.')
        if is_aligned:
            idx1 = idx2 = torch.arange(rows, device=q1.device)
        else:
            idx1 = torch.arange(rows, device=q1.device).repeat_interleave(cols)
            idx2 = torch.arange(cols, device=q1.device).repeat(rows)
        q1, q2 = q1.double().unflatten(-1, (4, 2)), q2.double().unflatten(
            -1, (4, 2))
        # relative to each pair's mean point: large coordinates stay precise
        origin = (q1[idx1].mean(1) + q2[idx2].mean(1))[:, None] / 2
        overlaps = exact_quad_overlaps(q1[idx1] - origin, q2[idx2] - origin,
                                       mode)
        shape = (rows, ) if is_aligned else (rows, cols)
        return overlaps.clamp(0.0, 1.0).to(boxes1.dtype).reshape(shape)

    @staticmethod
    def from_instance_masks(masks: MaskType) -> 'QuadriBoxes':
        """Corners of the minimum-area rectangle of each instance mask.

        Returns:
            QuadriBoxes: shape (N, 8), float32.
        """
        rboxes = RotatedBoxes.from_instance_masks(masks).tensor
        return QuadriBoxes(rbox2qbox(rboxes))


__all__ = ['QuadriBoxes']
