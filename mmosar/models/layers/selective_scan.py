"""Selective scan (the S6 recurrence of Mamba) with a stable chunked path.

The selective scan maps an input sequence ``u`` to an output ``y`` through a
linear time-varying state space model, independently for every channel ``d``
and state ``n``::

    x_t = exp(delta_t * A) * x_{t-1} + delta_t * B_t * u_t     (state, n-dim)
    y_t = <C_t, x_t> + D * u_t
    out = y * silu(z)                                          (optional gate)

Shapes follow ``mamba_ssm.ops.selective_scan_interface.selective_scan_fn``:

- ``u``, ``delta``, ``z``: ``(b, d, l)``
- ``A``: ``(d, n)``
- ``B``, ``C``: ``(b, n, l)`` or grouped ``(b, g, n, l)``; with ``g`` groups
  channel ``i`` uses group ``i // (d // g)``
- ``D``, ``delta_bias``: ``(d,)``
- output ``(b, d, l)``; the last state is ``(b, d, n)``.

Three implementations share these semantics:

- :func:`selective_scan_ref`: the plain sequential recurrence (one step per
  token). It is the numerical reference and the benchmark baseline.
- :func:`selective_scan_chunked`: pure PyTorch, parallel inside chunks of
  ``chunk_size`` tokens and sequential between chunks. Inside a chunk the
  state is ``x_t = exp(S_t - r) * (exp(r) x_0 + sum_{s<=t} exp(r - S_s) B_s
  delta_s u_s)`` where ``S_t`` is the within-chunk cumulative sum of
  ``delta * A`` and ``r`` is the midpoint of its range, so every ``exp``
  argument is bounded by half the range; a chunk whose range exceeds
  ``2 * max_log_scale`` is split in halves (recursively) before anything can
  overflow. The backward pass is written by hand and also runs chunk by
  chunk (in reverse), recomputing each chunk's states from the stored
  ``(b, d, n)`` state at its start, so memory stays ``O(b d n l / T)``
  instead of the ``(b, d, n, l)`` states autograd would keep.
- ``mamba_ssm``'s CUDA kernel, used by :func:`selective_scan` on CUDA tensors
  when the package is importable. No Triton kernel is provided (none could
  be tested here); a fused GPU kernel can be registered in
  :data:`SCAN_BACKENDS` and selected with ``backend=``.
"""
from typing import Callable, Dict, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

try:  # optional CUDA kernel
    from mamba_ssm.ops.selective_scan_interface import (
        selective_scan_fn as _mamba_selective_scan_fn,
    )
except ImportError:  # pragma: no cover - depends on the environment
    _mamba_selective_scan_fn = None

ScanOutput = Union[Tensor, Tuple[Tensor, Tensor]]

# Bound of |exp argument| inside a chunk; exp(60) ~ 1e26 leaves float32
# (max ~3e38) room for the accumulated sums.
DEFAULT_MAX_LOG_SCALE = 60.0


def _check_inputs(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor,
                  D: Optional[Tensor], z: Optional[Tensor],
                  delta_bias: Optional[Tensor]) -> int:
    """Validate the shapes; returns the number of B/C groups."""
    if u.dim() != 3:
        raise ValueError(f'selective_scan: u must be (b, d, l), got '
                         f'{tuple(u.shape)}')
    b, d, length = u.shape
    if delta.shape != u.shape:
        raise ValueError(f'selective_scan: delta {tuple(delta.shape)} must '
                         f'match u {tuple(u.shape)}')
    if A.dim() != 2 or A.shape[0] != d:
        raise ValueError(f'selective_scan: A must be (d={d}, n), got '
                         f'{tuple(A.shape)}')
    n = A.shape[1]
    groups = None
    for name, mat in (('B', B), ('C', C)):
        if mat.dim() == 3:
            expected, g = (b, n, length), 1
        elif mat.dim() == 4:
            g = mat.shape[1]
            expected = (b, g, n, length)
        else:
            raise ValueError(f'selective_scan: {name} must be (b, n, l) or '
                             f'(b, g, n, l), got {tuple(mat.shape)}')
        if tuple(mat.shape) != expected:
            raise ValueError(f'selective_scan: {name} has shape '
                             f'{tuple(mat.shape)}, expected {expected}')
        if groups is not None and g != groups:
            raise ValueError('selective_scan: B and C must have the same '
                             f'number of groups, got {groups} and {g}')
        groups = g
    if d % groups:
        raise ValueError(f'selective_scan: d={d} is not divisible by the '
                         f'number of groups {groups}')
    for name, vec in (('D', D), ('delta_bias', delta_bias)):
        if vec is not None and tuple(vec.shape) != (d, ):
            raise ValueError(f'selective_scan: {name} must be (d={d},), got '
                             f'{tuple(vec.shape)}')
    if z is not None and z.shape != u.shape:
        raise ValueError(f'selective_scan: z {tuple(z.shape)} must match u '
                         f'{tuple(u.shape)}')
    return groups


def _compute_dtype(u: Tensor) -> torch.dtype:
    """float64 stays float64; everything else is computed in float32."""
    return torch.float64 if u.dtype == torch.float64 else torch.float32


def _effective_delta(delta: Tensor, delta_bias: Optional[Tensor],
                     delta_softplus: bool, dtype: torch.dtype) -> Tensor:
    delta = delta.to(dtype)
    if delta_bias is not None:
        delta = delta + delta_bias.to(dtype)[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    return delta


def _finish(y: Tensor, u: Tensor, D: Optional[Tensor],
            z: Optional[Tensor]) -> Tensor:
    """Adds the skip term ``D * u`` and applies the ``silu(z)`` gate."""
    if D is not None:
        y = y + u.to(y.dtype) * D.to(y.dtype)[:, None]
    if z is not None:
        y = y * F.silu(z.to(y.dtype))
    return y.to(u.dtype)


def selective_scan_ref(u: Tensor,
                       delta: Tensor,
                       A: Tensor,
                       B: Tensor,
                       C: Tensor,
                       D: Optional[Tensor] = None,
                       z: Optional[Tensor] = None,
                       delta_bias: Optional[Tensor] = None,
                       delta_softplus: bool = False,
                       return_last_state: bool = False) -> ScanOutput:
    """Sequential selective scan, one recurrence step per token.

    ``x_t = exp(delta_t A) x_{t-1} + delta_t B_t u_t``, ``y_t = C_t . x_t``,
    then ``+ D u`` and ``* silu(z)``. The per-step tensors come from
    ``unbind`` so autograd memory and time stay linear in ``l``.

    Args and returns: see the module docstring (mamba_ssm's shapes).
    """
    groups = _check_inputs(u, delta, A, B, C, D, z, delta_bias)
    dtype = _compute_dtype(u)
    b, d, length = u.shape
    n = A.shape[1]
    delta = _effective_delta(delta, delta_bias, delta_softplus, dtype)
    # (b, g, n, l) -> (b, d, n, l): repeat every group over its channels.
    B = (B if B.dim() == 4 else B[:, None]).to(dtype)
    C = (C if C.dim() == 4 else C[:, None]).to(dtype)
    B = B.repeat_interleave(d // groups, dim=1)
    C = C.repeat_interleave(d // groups, dim=1)
    A = A.to(dtype)
    state = u.new_zeros((b, d, n), dtype=dtype)
    outputs = []
    for u_t, delta_t, B_t, C_t in zip(
            u.to(dtype).unbind(-1), delta.unbind(-1), B.unbind(-1),
            C.unbind(-1)):
        decay = torch.exp(delta_t[..., None] * A)
        state = decay * state + (delta_t * u_t)[..., None] * B_t
        outputs.append((state * C_t).sum(-1))
    y = _finish(torch.stack(outputs, dim=-1), u, D, z)
    return (y, state.to(u.dtype)) if return_last_state else y


def _log_decay_reference(delta_cum: Tensor, A: Tensor,
                         monotone: bool) -> Tuple[Tensor, Tensor]:
    """Midpoint ``r`` and width of the range of ``{0} U {S_t}`` per state.

    The cumulative log-decay of a segment is ``S_t = A * sum_{s<=t}
    delta_s`` (``A`` is constant along the tokens).

    Args:
        delta_cum (Tensor): within-segment ``cumsum(delta)``,
            ``(b, g, dg, 1, T)``.
        A (Tensor): ``(g, dg, n, 1)``.
        monotone (bool): ``S_t`` never increases, so the range is
            ``[S_T, 0]``.

    Returns:
        tuple: ``r`` ``(b, g, dg, n, 1)`` and the widest range (0-dim).
        A single token uses ``r = S_1``: then ``w = v = 1`` and only the
        carried state is scaled, by ``exp(S_1)``, which may underflow to 0
        but never overflows (for ``S_1 <= 0``).
    """
    if delta_cum.shape[-1] == 1:
        return delta_cum * A, delta_cum.new_zeros(())
    if monotone:
        low = delta_cum[..., -1:] * A
        return low * 0.5, -low.min()
    cum = delta_cum * A
    high = cum.amax(-1, keepdim=True).clamp(min=0)
    low = cum.amin(-1, keepdim=True).clamp(max=0)
    return (high + low) * 0.5, (high - low).max()


def _growth(delta_cum: Tensor, A: Tensor, ref: Tensor) -> Tensor:
    """``w_t = exp(S_t - r)``, ``(b, g, dg, n, T)``."""
    return torch.addcmul(-ref, delta_cum, A).exp_()


class _ChunkedSelectiveScan(torch.autograd.Function):
    """Chunked scan with a hand-written, chunk-by-chunk backward.

    Layout (tokens last, ``dg = d // g`` channels per B/C group):
    ``delta``/``delta_u`` ``(b, g, dg, 1, l)``, ``A`` ``(g, dg, n, 1)``,
    ``B``/``C`` ``(b, g, 1, n, l)``. Returns ``y`` ``(b, g, dg, l)`` and the
    last state ``(b, g, dg, n)``.

    Inside a segment of ``T`` tokens with cumulative log-decay ``S_t`` and
    reference ``r`` (midpoint of the range of ``S``), ``w_t = exp(S_t - r)``
    and ``v_t = 1 / w_t`` are both at most ``exp(max_log_scale)``, and

    - forward: ``x_t = w_t (exp(r) x_0 + sum_{s<=t} v_s dBu_s)``;
    - backward: ``gx_t = v_t (sum_{s>=t} w_s C_s gy_s + w_T gx_T')`` where
      ``gx_T'`` is the gradient reaching the segment's last state from later
      tokens. Then ``grad dBu = gx``, ``grad C = gy x``, and the gradient of
      the log-decay ``delta_t A`` is ``gx_t * (x_t - dBu_t)``.

    Only the state at the start of every segment is stored for backward,
    so memory is ``O(b d n (l / T))`` on top of the inputs.
    """

    @staticmethod
    def _segment_states(delta: Tensor, delta_u: Tensor, B: Tensor, A: Tensor,
                        state: Tensor, ref: Tensor,
                        growth: Tensor) -> Tuple[Tensor, Tensor]:
        """States ``x_t`` ``(b, g, dg, n, T)`` and inputs ``dBu_t``."""
        drive = delta_u * B
        states = drive / growth
        states[..., 0] += state * torch.exp(ref[..., 0])
        states = states.cumsum(-1).mul_(growth)
        return states, drive

    @staticmethod
    def forward(ctx, delta: Tensor, delta_u: Tensor, A: Tensor, B: Tensor,
                C: Tensor, chunk_size: int, monotone: bool,
                max_log_scale: float) -> Tuple[Tensor, Tensor]:
        b, g, dg, _, length = delta.shape
        state = delta.new_zeros((b, g, dg, A.shape[2]))
        segments, start_states, outputs = [], [], []
        # Segments still to scan, the next one last (a stack).
        pending = [(s, min(s + chunk_size, length))
                   for s in range(0, length, chunk_size)][::-1]
        while pending:
            start, stop = pending.pop()
            delta_cum = delta[..., start:stop].cumsum(-1)
            ref, span = _log_decay_reference(delta_cum, A, monotone)
            if stop - start > 1 and bool(span > 2 * max_log_scale):
                mid = (start + stop) // 2
                pending += [(mid, stop), (start, mid)]
                continue
            growth = _growth(delta_cum, A, ref)
            states, _ = _ChunkedSelectiveScan._segment_states(
                delta[..., start:stop], delta_u[..., start:stop],
                B[..., start:stop], A, state, ref, growth)
            segments.append((start, stop))
            start_states.append(state)
            outputs.append((states * C[..., start:stop]).sum(-2))
            state = states[..., -1].clone()
        ctx.segments = segments
        ctx.monotone = monotone
        ctx.save_for_backward(delta, delta_u, A, B, C,
                              torch.stack(start_states))
        return torch.cat(outputs, dim=-1), state

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y: Tensor, grad_last: Optional[Tensor]):
        delta, delta_u, A, B, C, start_states = ctx.saved_tensors
        grad_delta = torch.zeros_like(delta)
        grad_delta_u = torch.zeros_like(delta_u)
        grad_A = torch.zeros_like(A)
        grad_B = torch.zeros_like(B)
        grad_C = torch.zeros_like(C)
        carry = (torch.zeros_like(start_states[0])
                 if grad_last is None else grad_last)
        for index in range(len(ctx.segments) - 1, -1, -1):
            start, stop = ctx.segments[index]
            seg = slice(start, stop)
            delta_cum = delta[..., seg].cumsum(-1)
            ref, _ = _log_decay_reference(delta_cum, A, ctx.monotone)
            growth = _growth(delta_cum, A, ref)
            states, drive = _ChunkedSelectiveScan._segment_states(
                delta[..., seg], delta_u[..., seg], B[..., seg], A,
                start_states[index], ref, growth)
            grad_out = grad_y[..., seg].unsqueeze(-2)  # (b, g, dg, 1, T)
            # Reverse cumulative sum of w_s * dL/dx_s (direct terms).
            rev = (grad_out * C[..., seg]).mul_(growth)
            rev[..., -1] += carry * growth[..., -1]
            rev = rev.flip(-1).cumsum(-1).flip(-1)
            carry = rev[..., 0] * torch.exp(ref[..., 0])
            grad_states = rev.div_(growth)  # dL/dx_t incl. later tokens
            grad_delta_u[..., seg] = (grad_states * B[..., seg]).sum(
                -2, keepdim=True)
            grad_B[..., seg] = (grad_states * delta_u[..., seg]).sum(
                2, keepdim=True)
            grad_C[..., seg] = (grad_out * states).sum(2, keepdim=True)
            grad_log_decay = grad_states.mul_(states.sub_(drive))
            grad_delta[..., seg] = (grad_log_decay * A).sum(-2, keepdim=True)
            grad_A += (grad_log_decay * delta[..., seg]).sum(-1, True).sum(0)
        return (grad_delta, grad_delta_u, grad_A, grad_B, grad_C, None, None,
                None)


def selective_scan_chunked(
        u: Tensor,
        delta: Tensor,
        A: Tensor,
        B: Tensor,
        C: Tensor,
        D: Optional[Tensor] = None,
        z: Optional[Tensor] = None,
        delta_bias: Optional[Tensor] = None,
        delta_softplus: bool = False,
        return_last_state: bool = False,
        chunk_size: int = 64,
        max_log_scale: float = DEFAULT_MAX_LOG_SCALE) -> ScanOutput:
    """Chunked parallel selective scan in pure PyTorch (any device).

    Args:
        u, delta, A, B, C, D, z, delta_bias, delta_softplus,
        return_last_state: as in mamba_ssm (see the module docstring).
        chunk_size (int): tokens scanned in parallel; the working memory is
            a few ``(b, d, n, chunk_size)`` tensors.
        max_log_scale (float): segments whose cumulative log-decay spans
            more than twice this value are halved (recursively), so no
            ``exp`` overflows.

    Returns:
        Tensor or tuple: ``(b, d, l)`` output (and ``(b, d, n)`` last state).
    """
    groups = _check_inputs(u, delta, A, B, C, D, z, delta_bias)
    if chunk_size < 1:
        raise ValueError(f'chunk_size must be >= 1, got {chunk_size}')
    dtype = _compute_dtype(u)
    b, d, length = u.shape
    n = A.shape[1]
    dg = d // groups
    delta = _effective_delta(delta, delta_bias, delta_softplus, dtype)
    delta_u = (delta * u.to(dtype)).view(b, groups, dg, 1, length)
    A = A.to(dtype)
    monotone = bool((delta >= 0).all()) and bool((A <= 0).all())
    # (b, g, n, l) -> (b, g, 1, n, l): broadcast over the dg channels.
    B = (B if B.dim() == 4 else B[:, None]).to(dtype).unsqueeze(2)
    C = (C if C.dim() == 4 else C[:, None]).to(dtype).unsqueeze(2)
    y, state = _ChunkedSelectiveScan.apply(
        delta.view(b, groups, dg, 1, length), delta_u,
        A.view(groups, dg, n, 1), B, C, chunk_size, monotone, max_log_scale)
    y = _finish(y.reshape(b, d, length), u, D, z)
    if return_last_state:
        return y, state.reshape(b, d, n).to(u.dtype)
    return y


def _mamba_ssm_scan(*args, **kwargs) -> ScanOutput:
    """mamba_ssm's fused CUDA kernel (same signature)."""
    if _mamba_selective_scan_fn is None:
        raise RuntimeError('selective_scan backend "mamba_ssm" requested but '
                           '`mamba_ssm` is not installed')
    return _mamba_selective_scan_fn(*args, **kwargs)


#: Backends of :func:`selective_scan`, by name. All take mamba_ssm's
#: arguments. Register a new fused kernel here to make it selectable.
SCAN_BACKENDS: Dict[str, Callable[..., ScanOutput]] = {
    'chunked': selective_scan_chunked,
    'mamba_ssm': _mamba_ssm_scan,
    'reference': selective_scan_ref,
}


def resolve_scan_backend(u: Tensor, backend: str = 'auto') -> str:
    """Name of the backend that :func:`selective_scan` uses for ``u``.

    ``'auto'`` picks ``'mamba_ssm'`` for CUDA tensors when the package is
    importable and ``'chunked'`` otherwise.
    """
    if backend == 'auto':
        if u.is_cuda and _mamba_selective_scan_fn is not None:
            return 'mamba_ssm'
        return 'chunked'
    if backend not in SCAN_BACKENDS:
        raise ValueError(f'unknown selective scan backend {backend!r}; '
                         f'choose from {sorted(SCAN_BACKENDS)} or "auto"')
    return backend


def selective_scan(u: Tensor,
                   delta: Tensor,
                   A: Tensor,
                   B: Tensor,
                   C: Tensor,
                   D: Optional[Tensor] = None,
                   z: Optional[Tensor] = None,
                   delta_bias: Optional[Tensor] = None,
                   delta_softplus: bool = False,
                   return_last_state: bool = False,
                   backend: str = 'auto') -> ScanOutput:
    """Selective scan with the fastest available backend.

    Same arguments and shapes as mamba_ssm's ``selective_scan_fn`` (see the
    module docstring), plus ``backend``: ``'auto'`` (default, see
    :func:`resolve_scan_backend`), ``'chunked'``, ``'mamba_ssm'`` or
    ``'reference'``.
    """
    scan = SCAN_BACKENDS[resolve_scan_backend(u, backend)]
    return scan(
        u,
        delta,
        A,
        B,
        C,
        D=D,
        z=z,
        delta_bias=delta_bias,
        delta_softplus=delta_softplus,
        return_last_state=return_last_state)
