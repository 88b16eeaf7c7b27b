"""An exportable selective scan (ONNX), selected only at export time.

:func:`~mmosar.models.layers.selective_scan.selective_scan_chunked` is an
autograd Function whose forward decides, from the data, where to split its
chunks (``bool(span > ...)``) and reuses buffers in place: neither traces
into an ONNX graph. :func:`selective_scan_export` computes the same
recurrence (same arguments and shapes as mamba_ssm's ``selective_scan_fn``)

    x_t = a_t x_{t-1} + b_t,   a_t = exp(delta_t A),   b_t = delta_t B_t u_t,
    y_t = <C_t, x_t> (+ D u_t, * silu(z_t))

with plain tensor ops and no data-dependent Python control flow, as a
Hillis-Steele parallel prefix scan of the affine maps ``x -> a x + b``
(composition is associative: ``(a2, b2) o (a1, b1) = (a2 a1, a2 b1 +
b2)``). After step ``k`` (``k = 1, 2, 4, ...``) the pair at token ``t``
is the composition of the maps ``t - 2k + 1 ... t``:

    b_t <- a_t b_{t-k} + b_t,   a_t <- a_t a_{t-k}   (a = 1, b = 0 before
                                                     the first token)

so ``ceil(log2 l)`` steps leave ``b_t = x_t``. Only products of decays
``a <= 1`` (for ``delta A <= 0``: softplus steps and ``A = -exp(A_log)``
as in CMIM) are formed, so nothing can overflow whatever the step sizes
(underflow to 0 is the exact limit), unlike the unsplit exponential
trick of the chunked path. Work ``O(b d n l log l)``, memory ``O(b d n
l)``; the graph has ``ceil(log2 l)`` small steps.

:func:`export_scan_backend` switches every CMIM of a model to this backend
for the duration of an export and restores the previous backends; the
training and inference paths are unchanged.
"""
import contextlib
from typing import Iterator, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmosar.models.layers.selective_scan import (
    SCAN_BACKENDS,
    ScanOutput,
    _check_inputs,
    _compute_dtype,
)

#: Name of the exportable backend in :data:`SCAN_BACKENDS`.
EXPORT_BACKEND = 'export'


def _shift(t: Tensor, steps: int, fill: float) -> Tensor:
    """``t`` moved ``steps`` tokens to the right (last axis), ``fill``
    entering on the left."""
    pad = torch.full_like(t[..., :steps], fill)
    return torch.cat([pad, t[..., :-steps]], dim=-1)


def linear_recurrence_scan(decay: Tensor, drive: Tensor) -> Tensor:
    """All states of ``x_t = decay_t x_{t-1} + drive_t``, ``x_0 = 0``.

    Args:
        decay, drive (Tensor): ``(..., l)``, same shape.

    Returns:
        Tensor: ``x`` ``(..., l)`` (Hillis-Steele prefix scan, see the
        module docstring).
    """
    length = decay.shape[-1]
    steps = 1
    while steps < length:  # static: depends on the shape only
        drive = decay * _shift(drive, steps, 0.0) + drive
        if 2 * steps < length:
            decay = decay * _shift(decay, steps, 1.0)
        steps *= 2
    return drive


def selective_scan_export(u: Tensor,
                          delta: Tensor,
                          A: Tensor,
                          B: Tensor,
                          C: Tensor,
                          D: Optional[Tensor] = None,
                          z: Optional[Tensor] = None,
                          delta_bias: Optional[Tensor] = None,
                          delta_softplus: bool = False,
                          return_last_state: bool = False) -> ScanOutput:
    """Selective scan in exportable tensor ops (see the module docstring).

    Args:
        u, delta, A, B, C, D, z, delta_bias, delta_softplus,
        return_last_state: as mamba_ssm's ``selective_scan_fn``: ``u``,
            ``delta``, ``z`` ``(b, d, l)``, ``A`` ``(d, n)``, ``B``/``C``
            ``(b, n, l)`` or ``(b, g, n, l)``, ``D``/``delta_bias``
            ``(d,)``.

    Returns:
        Tensor or tuple: ``(b, d, l)`` output (and ``(b, d, n)`` last state).
    """
    groups = _check_inputs(u, delta, A, B, C, D, z, delta_bias)
    dtype = _compute_dtype(u)
    b, d, length = u.shape
    n = A.shape[1]
    dg = d // groups
    delta = delta.to(dtype)
    if delta_bias is not None:
        delta = delta + delta_bias.to(dtype)[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    # (b, g, dg, 1, l) tokens, (g, dg, n, 1) decay rates, (b, g, 1, n, l)
    # B and C (one per group, broadcast over its dg channels)
    delta_g = delta.reshape(b, groups, dg, 1, length)
    u_g = u.to(dtype).reshape(b, groups, dg, 1, length)
    A_g = A.to(dtype).reshape(groups, dg, n, 1)

    def per_group(t: Tensor) -> Tensor:
        return (t if t.dim() == 4 else t[:, None]).to(dtype).unsqueeze(2)

    states = linear_recurrence_scan(
        torch.exp(delta_g * A_g), delta_g * u_g * per_group(B))
    y = (states * per_group(C)).sum(-2).reshape(b, d, length)
    if D is not None:
        y = y + u.to(dtype) * D.to(dtype)[:, None]
    if z is not None:
        y = y * F.silu(z.to(dtype))
    y = y.to(u.dtype)
    if return_last_state:
        return y, states[..., -1].reshape(b, d, n).to(u.dtype)
    return y


SCAN_BACKENDS[EXPORT_BACKEND] = selective_scan_export


@contextlib.contextmanager
def export_scan_backend(model: nn.Module) -> Iterator[List[nn.Module]]:
    """Switch every module with a ``scan_backend`` attribute (CMIM) to
    :func:`selective_scan_export` inside the ``with`` block.

    Yields:
        list[nn.Module]: the switched modules (empty for models without a
        selective scan).
    """
    switched: List[Tuple[nn.Module, str]] = [
        (m, m.scan_backend) for m in model.modules()
        if isinstance(getattr(m, 'scan_backend', None), str)
    ]
    try:
        for module, _ in switched:
            module.scan_backend = EXPORT_BACKEND
        yield [module for module, _ in switched]
    finally:
        for module, backend in switched:
            module.scan_backend = backend
