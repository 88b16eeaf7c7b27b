"""HSM: the Hyperbolic Similarity Mask of IFKD (paper eqs. 9-11).

For every spatial location the teacher and the (adapted) student feature
vectors (over channels) are placed in the Poincare ball of curvature ``c`` and
their hyperbolic distance becomes the weight of that location in the
distillation losses: locations where the student disagrees with the teacher
weigh more.
"""
from typing import Optional, Tuple

import torch
from torch import Tensor, nn

from mmosar.registry import MODELS

BALL_MAPS = ('expmap', 'scale', 'clip')
IMPLS = ('paper', 'released')


def mobius_add(x: Tensor,
               y: Tensor,
               c: float,
               dim: int = -1,
               den_eps: Optional[float] = None) -> Tensor:
    """Mobius addition ``x (+)_c y`` in the Poincare ball of curvature ``c``.

    ``[(1 + 2c<x,y> + c|y|^2) x + (1 - c|x|^2) y] /
    (1 + 2c<x,y> + c^2 |x|^2 |y|^2)``.

    Args:
        x: Points, any shape, vector axis ``dim``.
        y: Points broadcastable with ``x``.
        c: Curvature (> 0).
        dim: Axis holding the vector components.
        den_eps: None: the denominator is clamped at 1e-15; a number: it is
            added to the denominator (released code: 1e-5).

    Returns:
        Tensor of the broadcast shape of ``x`` and ``y``.
    """
    xy = (x * y).sum(dim, keepdim=True)
    x2 = (x * x).sum(dim, keepdim=True)
    y2 = (y * y).sum(dim, keepdim=True)
    num = (1 + 2 * c * xy + c * y2) * x + (1 - c * x2) * y
    den = 1 + 2 * c * xy + c * c * x2 * y2
    den = den.clamp_min(1e-15) if den_eps is None else den + den_eps
    return num / den


class ClampedArtanh(torch.autograd.Function):
    """``artanh(clamp(x, -1 + eps, 1 - eps))`` with the released backward.

    The gradient is ``g / (1 - x_c^2 + eps)`` at the clamped value ``x_c``,
    also where the clamp is active (it is not zeroed there), as in the
    released HSM.
    """

    @staticmethod
    def forward(ctx, x: Tensor, eps: float) -> Tensor:
        clamped = x.clamp(-1 + eps, 1 - eps)
        ctx.save_for_backward(clamped)
        ctx.eps = eps
        return torch.atanh(clamped)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (clamped, ) = ctx.saved_tensors
        return grad / (1 - clamped * clamped + ctx.eps), None


def released_hsm_distance(student: Tensor,
                          teacher: Tensor,
                          c: float = 1.0,
                          eps: float = 1e-5) -> Tensor:
    """The released ``HSM_dist(A(S), T)``, differentiable.

    ``2/sqrt(c) * artanh_eps(sqrt(c) * || (-S) (+)_c T ||_channels)`` where
    the Mobius addition's inner products ``<-S, T>``, ``|S|^2``, ``|T|^2``
    are taken over the **last (width) axis** (the released code's
    reduction; a location's value thus mixes its whole row), ``eps`` is
    added to its denominator, and only the final norm runs over the
    channels. ``artanh_eps`` is :class:`ClampedArtanh`. Features are used
    as they are (no map into the ball): inputs with large norms saturate at
    ``2 artanh(1 - eps) / sqrt(c)``.

    Args:
        student: Adapted student feature ``(B, C, H, W)`` (the released
            ``x``).
        teacher: Teacher feature ``(B, C, H, W)`` (the released ``y``).
        c: Curvature.
        eps: Clamp margin and denominator offset (both 1e-5 released).

    Returns:
        Distance ``(B, H, W)``.
    """
    sqrt_c = c**0.5
    norm = mobius_add(-student, teacher, c, dim=-1, den_eps=eps).norm(dim=1)
    return ClampedArtanh.apply(sqrt_c * norm, eps) * 2 / sqrt_c


def poincare_distance(x: Tensor,
                      y: Tensor,
                      c: float = 1.0,
                      dim: int = -1,
                      eps: float = 1e-5) -> Tensor:
    """Geodesic distance ``2/sqrt(c) * artanh(sqrt(c) |(-x) (+)_c y|)``.

    Both inputs must already lie inside the ball (``sqrt(c)|x| < 1``); the
    artanh argument is clamped to ``1 - eps`` so points on the boundary give
    a large finite distance instead of ``inf``.

    Args:
        x: Points, vector axis ``dim``.
        y: Points broadcastable with ``x``.
        c: Curvature (> 0).
        dim: Axis holding the vector components (removed in the output).
        eps: Distance from 1 of the artanh clamp.

    Returns:
        Distances with axis ``dim`` reduced.
    """
    sqrt_c = c**0.5
    norm = mobius_add(-x, y, c, dim=dim).norm(dim=dim)
    return 2.0 / sqrt_c * torch.atanh((sqrt_c * norm).clamp(max=1 - eps))


def map_to_ball(x: Tensor,
                c: float,
                mode: str,
                dim: int = 1,
                eps: float = 1e-5,
                scale_dims: Tuple[int, ...] = (1, 2, 3),
                scale_radius: float = 0.9,
                largest: Optional[Tensor] = None) -> Tensor:
    """Place feature vectors inside the Poincare ball of curvature ``c``.

    Args:
        x: Features, vectors along ``dim`` (e.g. ``(B, C, H, W)``, dim 1).
        c: Curvature (> 0).
        mode: ``'expmap'``: exponential map at the origin,
            ``tanh(sqrt(c)|v|) v / (sqrt(c)|v|)``; ``'scale'``: divide by the
            largest vector norm over ``scale_dims`` (per sample) so every
            vector lands inside ``scale_radius/sqrt(c)``, keeping the
            relative geometry (HSM scales teacher and student by one common
            factor); ``'clip'``: rescale only vectors outside the ball to
            its ``1 - eps`` radius (the paper and released code apply no map
            at all, which is this mode for features already inside).
        dim: Vector axis.
        eps: Margin from the boundary.
        scale_dims: Axes over which ``'scale'`` takes the largest norm.
        scale_radius: Radius (fraction of the ball's) the largest vector
            gets in ``'scale'`` mode; well inside 1 so that distances to it
            do not hit the artanh clamp.
        largest: ``'scale'`` mode: use this largest norm (broadcastable to
            ``x``) instead of the one of ``x``, e.g. a common one for two
            tensors.

    Returns:
        Tensor of the shape of ``x``.
    """
    sqrt_c = c**0.5
    norm = x.norm(dim=dim, keepdim=True).clamp_min(1e-12)
    radius = (1 - eps) / sqrt_c
    if mode == 'expmap':
        # tanh rounds to 1 for large norms: keep a margin from the boundary
        return torch.tanh(sqrt_c * norm).clamp(max=1 - eps) * x / (
            sqrt_c * norm)
    if mode == 'scale':
        if largest is None:
            largest = norm.amax(dim=scale_dims, keepdim=True)
        target = min(scale_radius, 1 - eps) / sqrt_c
        return x * (target / largest.clamp_min(1e-12))
    if mode == 'clip':
        return x * (radius / norm).clamp(max=1.0)
    raise ValueError(f'ball map must be one of {BALL_MAPS}, got {mode!r}')


@MODELS.register_module()
class HyperbolicSimilarityMask(nn.Module):
    """HSM: per-location Poincare distance between teacher and student.

    ``impl='paper'`` (default): per location, the channel vectors of the
    teacher and the student are mapped into the ball (``ball_map``) and
    ``M(b, h, w) = d_c(T[b, :, h, w], S[b, :, h, w])`` (eqs. 9-11).
    ``impl='released'``: :func:`released_hsm_distance` (inner products over
    the width axis, no map into the ball).

    Args:
        curvature: Ball curvature ``c`` (paper/released code: 1.0).
        ball_map: How features enter the ball, see :func:`map_to_ball`
            (paper impl). Default ``'scale'`` (raw 256-channel FPN features
            have norms far above 1 and the exp map saturates them onto the
            boundary).
        eps: artanh clamp margin (released code: 1e-5).
        scale_radius: Ball radius fraction of the largest vector in
            ``'scale'`` mode.
        impl: ``'paper'`` or ``'released'``.
    """

    def __init__(self,
                 curvature: float = 1.0,
                 ball_map: str = 'scale',
                 eps: float = 1e-5,
                 scale_radius: float = 0.9,
                 impl: str = 'paper') -> None:
        super().__init__()
        if curvature <= 0:
            raise ValueError(f'curvature must be > 0, got {curvature}')
        if ball_map not in BALL_MAPS:
            raise ValueError(
                f'ball_map must be one of {BALL_MAPS}, got {ball_map!r}')
        if impl not in IMPLS:
            raise ValueError(f'impl must be one of {IMPLS}, got {impl!r}')
        self.impl = impl
        self.curvature = curvature
        self.ball_map = ball_map
        self.eps = eps
        self.scale_radius = scale_radius

    @torch.no_grad()
    def forward(self, teacher: Tensor, student: Tensor) -> Tensor:
        """Detached mask ``M_HSM``.

        Args:
            teacher: Teacher feature ``(B, C, H, W)``.
            student: Adapted student feature ``(B, C, H, W)``.

        Returns:
            Mask ``(B, H, W)``, >= 0.
        """
        if self.impl == 'released':
            return released_hsm_distance(student, teacher, self.curvature,
                                         self.eps)
        # half precision is computed in float32; float64 stays float64
        t, s = (v.float() if v.dtype in (torch.float16, torch.bfloat16)
                else v for v in (teacher, student))
        largest = None
        if self.ball_map == 'scale':
            # One common scale for both (per sample) so that a norm
            # mismatch between teacher and student still shows.
            largest = torch.maximum(
                t.norm(dim=1).amax(dim=(1, 2)),
                s.norm(dim=1).amax(dim=(1, 2)))[:, None, None, None]
        t, s = (
            map_to_ball(v, self.curvature, self.ball_map, eps=self.eps,
                        scale_radius=self.scale_radius, largest=largest)
            for v in (t, s))
        return poincare_distance(t, s, self.curvature, dim=1, eps=self.eps)
