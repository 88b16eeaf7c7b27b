"""Sliding-window patch geometry shared by the DOTA split tool and the
huge-image inference (:func:`mmosar.apis.inference_detector_by_patches`).

Windows are axis-aligned integer boxes ``(x1, y1, x2, y2)`` in the pixel
coordinates of the original image, ``x2 - x1`` being the window size. For one
(size, gap) pair the window starts along an axis are ``0, step, 2 * step, ...``
with ``step = size - gap``; the last start is moved back so that the window
ends at the image border, and an axis shorter than the window gets a single
window at 0 (the patch is padded). A window is kept when the fraction of its
area covered by the image is above ``img_rate_thr``; if no window passes,
the windows with the largest fraction are kept.

Objects are assigned to windows by their IoF (intersection over the object's
own area): an object belongs to every window whose IoF is at least
``iof_thr``. Polygons are ``(N, 8)`` arrays ``x1, y1, ..., x4, y4``.
"""
import math
from typing import List, Sequence, Tuple, Union

import cv2
import numpy as np
import shapely

PadValue = Union[int, float, Sequence[Union[int, float]]]


def scale_windows_by_rates(
        sizes: Sequence[int], gaps: Sequence[int],
        rates: Sequence[float]) -> Tuple[List[int], List[int]]:
    """Window sizes and gaps in original-image pixels for several rates.

    A rate ``r`` means the image is looked at ``r`` times larger: the window
    covers ``size / r`` original pixels (and is later resized to ``size`` by
    the training / test pipeline). The image itself is never resized here.

    Args:
        sizes: Window sizes at rate 1.
        gaps: Overlaps between neighbouring windows at rate 1, one per size.
        rates: Image rates.

    Returns:
        The window sizes and gaps for every (rate, size) combination, rate
        major, truncated to integers.
    """
    if len(sizes) != len(gaps):
        raise ValueError(f'sizes {list(sizes)} and gaps {list(gaps)} must '
                         'have the same length')
    if any(rate <= 0 for rate in rates):
        raise ValueError(f'rates must be positive, got {list(rates)}')
    scaled_sizes, scaled_gaps = [], []
    for rate in rates:
        scaled_sizes += [int(size / rate) for size in sizes]
        scaled_gaps += [int(gap / rate) for gap in gaps]
    return scaled_sizes, scaled_gaps


def window_starts(length: int, size: int, step: int) -> List[int]:
    """Start coordinates of the windows along one image axis.

    Args:
        length: Image extent along the axis.
        size: Window extent.
        step: Distance between consecutive window starts.

    Returns:
        Sorted start coordinates; the last window ends at ``length`` unless
        the image is shorter than one window (then ``[0]``).
    """
    if length <= size:
        return [0]
    num = math.ceil((length - size) / step) + 1
    starts = [step * i for i in range(num)]
    starts[-1] = min(starts[-1], length - size)
    return starts


def sliding_windows(width: int,
                    height: int,
                    sizes: Sequence[int],
                    gaps: Sequence[int],
                    img_rate_thr: float = 0.6) -> np.ndarray:
    """Sliding windows over an image of ``width x height`` pixels.

    Args:
        width: Image width.
        height: Image height.
        sizes: Window sizes (square windows), in original pixels.
        gaps: Overlap between neighbouring windows, one per size.
        img_rate_thr: A window is kept when (image area inside the
            window) / (window area) is greater than this.

    Returns:
        np.ndarray: ``(M, 4)`` int64 windows ``x1, y1, x2, y2``, size by
        size, row-major inside one size.
    """
    if len(sizes) != len(gaps):
        raise ValueError(f'sizes {list(sizes)} and gaps {list(gaps)} must '
                         'have the same length')
    windows = []
    for size, gap in zip(sizes, gaps):
        if not 0 <= gap < size:
            raise ValueError(f'invalid window size {size} / gap {gap}: the '
                             'gap must be in [0, size)')
        step = size - gap
        xs = window_starts(width, size, step)
        ys = window_starts(height, size, step)
        for y in ys:
            for x in xs:
                windows.append((x, y, x + size, y + size))
    windows = np.asarray(windows, dtype=np.int64).reshape(-1, 4)

    inside_w = np.minimum(windows[:, 2], width) - windows[:, 0]
    inside_h = np.minimum(windows[:, 3], height) - windows[:, 1]
    win_area = (windows[:, 2] - windows[:, 0]) * (
        windows[:, 3] - windows[:, 1])
    img_rates = inside_w * inside_h / win_area
    keep = img_rates > img_rate_thr
    if not keep.any():
        keep = img_rates >= img_rates.max() - 0.01
    return windows[keep]


def polygons_to_shapely(polygons: np.ndarray) -> np.ndarray:
    """Shapely polygons of ``(N, 8)`` quadrilaterals.

    A self-intersecting or otherwise invalid quadrilateral is replaced by the
    convex hull of its four points, so areas and intersections stay defined.
    """
    polygons = np.asarray(polygons, dtype=np.float64).reshape(-1, 4, 2)
    geoms = shapely.polygons(polygons)
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        geoms[invalid] = shapely.convex_hull(
            shapely.multipoints(polygons[invalid]))
    return geoms


def polygon_window_iof(polygons: np.ndarray,
                       windows: np.ndarray) -> np.ndarray:
    """Intersection over the polygon's area between polygons and windows.

    Args:
        polygons: ``(N, 8)`` quadrilaterals.
        windows: ``(M, 4)`` axis-aligned boxes ``x1, y1, x2, y2``.

    Returns:
        np.ndarray: ``(N, M)`` IoF in [0, 1]; zero for polygons of zero area.
    """
    polygons = np.asarray(polygons, dtype=np.float64).reshape(-1, 8)
    windows = np.asarray(windows, dtype=np.float64).reshape(-1, 4)
    iofs = np.zeros((len(polygons), len(windows)), dtype=np.float64)
    if iofs.size == 0:
        return iofs
    # Only pairs whose bounding boxes overlap can intersect.
    xs, ys = polygons[:, 0::2], polygons[:, 1::2]
    hbb = np.stack([xs.min(1), ys.min(1), xs.max(1), ys.max(1)], axis=1)
    overlap = ((hbb[:, None, 0] < windows[None, :, 2])
               & (hbb[:, None, 2] > windows[None, :, 0])
               & (hbb[:, None, 1] < windows[None, :, 3])
               & (hbb[:, None, 3] > windows[None, :, 1]))
    poly_idx, win_idx = np.nonzero(overlap)
    if len(poly_idx) == 0:
        return iofs
    geoms = polygons_to_shapely(polygons)
    areas = shapely.area(geoms)
    boxes = shapely.box(windows[:, 0], windows[:, 1], windows[:, 2],
                        windows[:, 3])
    inter = shapely.area(shapely.intersection(geoms[poly_idx], boxes[win_idx]))
    valid = areas[poly_idx] > 0
    iofs[poly_idx[valid],
         win_idx[valid]] = inter[valid] / areas[poly_idx[valid]]
    return np.clip(iofs, 0.0, 1.0)


def assign_polygons_to_windows(
        polygons: np.ndarray, windows: np.ndarray,
        iof_thr: float) -> List[Tuple[np.ndarray, np.ndarray]]:
    """Objects that go into each window.

    Args:
        polygons: ``(N, 8)`` quadrilaterals.
        windows: ``(M, 4)`` windows.
        iof_thr: An object goes into a window when its IoF with the window is
            at least this.

    Returns:
        For each window, ``(indices, iofs)``: the indices of its objects and
        their IoF with the window (< 1 means truncated by the window).
    """
    iofs = polygon_window_iof(polygons, windows)
    assignment = []
    for j in range(len(windows)):
        inds = np.nonzero(iofs[:, j] >= iof_thr)[0]
        assignment.append((inds, iofs[inds, j]))
    return assignment


def clip_polygons_to_window(polygons: np.ndarray,
                            window: Sequence[float]) -> np.ndarray:
    """Quadrilaterals of the visible part of polygons inside a window.

    The intersection of a quadrilateral with the window can have 3 to 8
    vertices; it is replaced by its minimum-area enclosing rectangle, so the
    result is again a quadrilateral (corners in the order given by
    ``cv2.boxPoints``). The rectangle covers the visible part but may cross
    the window border where the cut is not parallel to the object's sides.
    Polygons that do not intersect the window are returned unchanged.

    Args:
        polygons: ``(K, 8)`` quadrilaterals in image coordinates.
        window: ``(x1, y1, x2, y2)``.

    Returns:
        np.ndarray: ``(K, 8)`` float32 clipped quadrilaterals.
    """
    polygons = np.asarray(polygons, dtype=np.float64).reshape(-1, 8)
    out = polygons.astype(np.float32).copy()
    if len(polygons) == 0:
        return out
    box = shapely.box(*[float(v) for v in window])
    parts = shapely.intersection(polygons_to_shapely(polygons), box)
    for i, part in enumerate(parts):
        if part.is_empty or part.area <= 0:
            continue
        points = np.asarray(shapely.get_coordinates(part), dtype=np.float32)
        out[i] = cv2.boxPoints(cv2.minAreaRect(points)).reshape(8)
    return out


def crop_window(img: np.ndarray,
                window: Sequence[int],
                pad_value: PadValue = 0,
                padding: bool = True) -> np.ndarray:
    """Crop a window from an image, padding where it leaves the image.

    Args:
        img: ``(H, W)`` or ``(H, W, C)`` image.
        window: ``(x1, y1, x2, y2)`` with ``x1, y1 >= 0``.
        pad_value: Fill value, a scalar or one value per channel.
        padding: If False, return only the part inside the image.

    Returns:
        np.ndarray: ``(y2 - y1, x2 - x1[, C])`` patch (smaller without
        padding when the window leaves the image), same dtype as ``img``.
    """
    x1, y1, x2, y2 = (int(v) for v in window)
    patch = img[y1:y2, x1:x2]
    if not padding or patch.shape[:2] == (y2 - y1, x2 - x1):
        return patch.copy()
    padded = np.empty((y2 - y1, x2 - x1) + img.shape[2:], dtype=img.dtype)
    fill = np.asarray(pad_value, dtype=img.dtype)
    if fill.ndim and img.ndim == 3 and fill.shape[0] != img.shape[2]:
        raise ValueError(f'pad_value has {fill.shape[0]} values but the '
                         f'image has {img.shape[2]} channels')
    padded[...] = fill
    padded[:patch.shape[0], :patch.shape[1]] = patch
    return padded
