"""Angle conventions of rotated boxes (``oc``, ``le90``, ``le135``).

A rotated box ``(cx, cy, w, h, t)`` is the axis-aligned box of width ``w``
and height ``h`` centred at ``(cx, cy)``, rotated by ``t`` radians
**clockwise** as seen in an image (x to the right, y down). The side of length
``w`` points along ``(cos t, sin t)``.

The same rectangle has four equivalent encodings: ``t`` and ``t + pi`` are the
same box, and ``(w, h, t)`` equals ``(h, w, t + pi / 2)``. An angle convention
picks one of them, so that regression targets are unique:

* ``'oc'`` (OpenCV ``minAreaRect`` style): ``t`` in ``[-pi/2, 0)``; ``w`` and
  ``h`` are in no particular order.
* ``'le90'`` (long edge, 90): ``w >= h`` and ``t`` in ``[-pi/2, pi/2)``.
* ``'le135'`` (long edge, 135): ``w >= h`` and ``t`` in ``[-pi/4, 3*pi/4)``.

``'r360'`` (``t`` in ``[-pi, pi)``, for detectors that predict the heading)
is accepted by :func:`norm_angle` only.
"""
import math
from typing import Optional, Union

import numpy as np
import torch
from torch import Tensor

#: convention name -> (width_longer, start angle in degrees)
ANGLE_CONVENTIONS = {
    'oc': (False, -90.0),
    'le90': (True, -90.0),
    'le135': (True, -45.0),
}


def _check_convention(angle_version: str, allowed) -> None:
    if angle_version not in allowed:
        raise ValueError(f'Unknown angle convention {angle_version!r}; '
                         f'expected one of {sorted(allowed)}.')


def norm_angle(angle: Union[Tensor, np.ndarray, float],
               angle_version: str) -> Union[Tensor, np.ndarray, float]:
    """Wrap angles into the range of an angle convention, modulo ``pi``.

    Only the angle changes, so the wrapped box is the same rectangle:

    * ``'le90'`` and ``'oc'``: into ``[-pi/2, pi/2)``. The full ``'oc'``
      range ``[-pi/2, 0)`` also needs swapping ``w`` and ``h``; use
      :func:`regularize_rboxes` for that.
    * ``'le135'``: into ``[-pi/4, 3*pi/4)``.
    * ``'r360'``: into ``[-pi, pi)`` (modulo ``2*pi``: keeps the heading).

    Args:
        angle (Tensor | np.ndarray | float): Angles in radians, any shape.
        angle_version (str): ``'oc'``, ``'le90'``, ``'le135'`` or ``'r360'``.

    Returns:
        Same type and shape as ``angle``.
    """
    _check_convention(angle_version, ('oc', 'le90', 'le135', 'r360'))
    if angle_version == 'r360':
        start, period = -math.pi, 2 * math.pi
    elif angle_version == 'le135':
        start, period = -math.pi / 4, math.pi
    else:
        start, period = -math.pi / 2, math.pi
    wrapped = (angle - start) % period + start
    if isinstance(wrapped, Tensor):
        # float rounding can give exactly start + period
        return torch.where(wrapped >= start + period, wrapped - period,
                           wrapped)
    if isinstance(wrapped, np.ndarray):
        return np.where(wrapped >= start + period, wrapped - period, wrapped)
    return wrapped - period if wrapped >= start + period else wrapped


def regularize_rboxes(boxes: Tensor,
                      pattern: Optional[str] = None,
                      width_longer: bool = True,
                      start_angle: float = -90.0) -> Tensor:
    """Encode rotated boxes in one angle convention (out of place).

    Args:
        boxes (Tensor): Rotated boxes ``(cx, cy, w, h, t)``, shape (..., 5).
        pattern (str, optional): ``'oc'``, ``'le90'`` or ``'le135'``; when
            given it overrides ``width_longer`` and ``start_angle``.
        width_longer (bool): If True, make ``w >= h`` and wrap ``t`` into
            ``[start, start + pi)``; as in mmrotate 1.x, ``w`` and ``h`` are
            swapped whenever ``h >= w``, so a square ``(s, s, t)`` becomes
            ``(s, s, t + pi/2)`` (wrapped). If False, keep ``t`` in
            ``[start, start + pi/2)`` by swapping ``w`` and ``h`` where needed.
            Defaults to True.
        start_angle (float): Start of the angle range, in degrees.
            Defaults to -90.

    Returns:
        Tensor: The same rectangles, shape (..., 5).
    """
    if pattern is not None:
        _check_convention(pattern, ANGLE_CONVENTIONS)
        width_longer, start_angle = ANGLE_CONVENTIONS[pattern]
    start = start_angle / 180 * math.pi
    cx, cy, w, h, t = boxes.unbind(dim=-1)
    if width_longer:
        swap = h >= w
        w, h = torch.where(swap, h, w), torch.where(swap, w, h)
        t = torch.where(swap, t + math.pi / 2, t)
        t = (t - start) % math.pi
        t = torch.where(t >= math.pi, t - math.pi, t)
    else:
        t = (t - start) % math.pi
        t = torch.where(t >= math.pi, t - math.pi, t)
        swap = t >= math.pi / 2
        w, h = torch.where(swap, h, w), torch.where(swap, w, h)
        t = torch.where(swap, t - math.pi / 2, t)
    return torch.stack([cx, cy, w, h, t + start], dim=-1)
