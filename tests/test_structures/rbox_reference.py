"""Independent references for rotated-box tests: numpy corners, shapely."""
import numpy as np
from shapely.geometry import Polygon


def np_corners(box) -> np.ndarray:
    """Corners (4, 2) of one (cx, cy, w, h, t) box, t clockwise in image
    coordinates (the w side along (cos t, sin t))."""
    cx, cy, w, h, t = [float(v) for v in box]
    axis_w = np.array([np.cos(t), np.sin(t)])
    axis_h = np.array([-np.sin(t), np.cos(t)])
    return np.array([[cx, cy] + sx * w / 2 * axis_w + sy * h / 2 * axis_h
                     for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))])


def rbox_polygon(box) -> Polygon:
    return Polygon(np_corners(box))


def shapely_overlap(box1, box2, mode='iou') -> float:
    p1, p2 = rbox_polygon(box1), rbox_polygon(box2)
    inter = p1.intersection(p2).area
    denom = p1.area + p2.area - inter if mode == 'iou' else p1.area
    return inter / denom if denom > 0 else 0.0


def same_polygon(points_a, points_b, tol=1e-3) -> bool:
    """Whether two polygons cover the same region (symmetric difference)."""
    pa, pb = Polygon(np.asarray(points_a)), Polygon(np.asarray(points_b))
    return pa.symmetric_difference(pb).area <= tol * max(pa.area, 1.0)
