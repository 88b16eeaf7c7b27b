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
  instead of the ``(b, d, n, l)`` states autograd would keep. The
  per-token parts (bias and softplus of ``delta``, ``delta * u``, ``D u``,
  the ``silu(z)`` gate) are done chunk by chunk inside the same function,
  the chunk temporaries reuse a few buffers, and ``exp`` is computed as
  ``exp2`` (about 4x faster on CPU): a call allocates little more than its
  output, which on CPU matters as much as the arithmetic (every fresh
  32 MiB tensor costs tens of milliseconds of page faults).
- ``mamba_ssm``'s CUDA kernel, used by :func:`selective_scan` on CUDA tensors
  when the package is importable. No Triton kernel is provided (none could
  be tested here); a fused GPU kernel can be registered in
  :data:`SCAN_BACKENDS` and selected with ``backend=``.
"""
import math
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


def _biased_delta(delta: Tensor, delta_bias: Optional[Tensor],
                  delta_softplus: bool,
                  dtype: torch.dtype) -> Tuple[Tensor, Tensor]:
    """``delta + delta_bias`` and the effective step (its softplus when
    ``delta_softplus``), both in ``dtype``; ``delta_bias`` must already
    broadcast against ``delta``."""
    raw = delta.to(dtype)
    if delta_bias is not None:
        raw = raw + delta_bias.to(dtype)
    return raw, F.softplus(raw) if delta_softplus else raw


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
    _, delta = _biased_delta(
        delta, None if delta_bias is None else delta_bias[:, None],
        delta_softplus, dtype)
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


_LOG2_E = 1.4426950408889634  # log2(e)


def _growth(delta_cum: Tensor, A_log2: Tensor, ref: Tensor,
            out: Tensor) -> Tensor:
    """``w_t = exp(S_t - r)`` written into ``out`` ``(b, g, dg, n, T)``.

    Computed as ``2 ** ((S_t - r) * log2(e))`` with ``A_log2 = A *
    log2(e)``: on CPU, torch's ``exp2`` is about 4x faster than ``exp``.
    """
    torch.mul(delta_cum, A_log2, out=out).sub_(ref * _LOG2_E)
    return out.exp2_()


class _Workspace:
    """Reusable ``(b, g, dg, n, chunk)`` buffers of one scan call.

    Every chunk writes its temporaries into the same few buffers, so the
    scan allocates a constant number of large tensors per call instead of
    several per chunk: on CPU, fresh large allocations come from the OS
    page by page and cost more than the arithmetic. A segment shorter than
    ``chunk`` (the last one, or a halved one) gets a contiguous
    ``(b, g, dg, n, T)`` view of the leading storage: strided views of the
    full buffers would make every op several times slower.
    """

    def __init__(self, like: Tensor, shape: Tuple[int, ...], count: int):
        self._shape = shape[:-1]
        self._buffers = [
            like.new_empty(math.prod(shape)) for _ in range(count)
        ]

    def views(self, length: int) -> Tuple[Tensor, ...]:
        numel = math.prod(self._shape) * length
        return tuple(buf[:numel].view(*self._shape, length)
                     for buf in self._buffers)


class _ChunkedSelectiveScan(torch.autograd.Function):
    """Chunked scan with a hand-written, chunk-by-chunk backward.

    Layout (tokens last, ``dg = d // g`` channels per B/C group): ``u``,
    ``delta``, ``z`` ``(b, g, dg, l)`` (any dtype, converted chunk by
    chunk), ``A`` ``(g, dg, n, 1)``, ``B``/``C`` ``(b, g, 1, n, l)``,
    ``D``/``delta_bias`` ``(g, dg, 1)``. Returns ``y`` ``(b, g, dg, l)`` and
    the last state ``(b, g, dg, n)`` in the compute dtype.

    Inside a segment of ``T`` tokens with cumulative log-decay ``S_t`` and
    reference ``r`` (midpoint of the range of ``S``), ``w_t = exp(S_t - r)``
    and ``v_t = 1 / w_t`` are both at most ``exp(max_log_scale)``, and

    - forward: ``x_t = w_t (exp(r) x_0 + sum_{s<=t} v_s dBu_s)``;
    - backward: ``gx_t = v_t (sum_{s>=t} w_s C_s gy_s + w_T gx_T')`` where
      ``gx_T'`` is the gradient reaching the segment's last state from later
      tokens. Then ``grad dBu = gx``, ``grad C = gy x``, and the gradient of
      the log-decay ``delta_t A`` is ``gx_t * (x_t - dBu_t)``.

    Everything per token (bias and softplus of ``delta``, ``delta * u``,
    the skip ``D u`` and the ``silu(z)`` gate, and their gradients) is done
    chunk by chunk too, so a call allocates only its outputs (``y``, and
    the gradients in backward) at full length. Only the state at the start
    of every segment is stored for backward: memory is ``O(b d n (l / T))``
    on top of inputs and outputs. The ``(b, g, dg, n, T)`` temporaries live
    in a :class:`_Workspace`.
    """

    @staticmethod
    def _segment_states(delta_u: Tensor, B: Tensor, state: Tensor,
                        ref: Tensor, growth: Tensor, states: Tensor,
                        drive: Optional[Tensor] = None) -> None:
        """Writes the states ``x_t`` of a segment into ``states``.

        ``delta_u`` ``(b, g, dg, 1, T)``, ``B`` ``(b, g, 1, n, T)``, the
        start ``state`` ``(b, g, dg, n)``, ``ref`` ``(b, g, dg, n, 1)`` and
        ``growth`` ``w_t``; ``states`` (and ``drive``, which receives
        ``dBu_t`` when given) are ``(b, g, dg, n, T)`` buffers.
        """
        if drive is None:
            torch.mul(delta_u, B, out=states).div_(growth)
        else:
            torch.div(torch.mul(delta_u, B, out=drive), growth, out=states)
        states[..., 0] += state * torch.exp(ref[..., 0])
        states.cumsum_(-1).mul_(growth)

    @staticmethod
    def forward(ctx, u: Tensor, delta: Tensor, A: Tensor, B: Tensor,
                C: Tensor, D: Optional[Tensor], z: Optional[Tensor],
                delta_bias: Optional[Tensor], delta_softplus: bool,
                chunk_size: int,
                max_log_scale: float) -> Tuple[Tensor, Tensor]:
        b, g, dg, length = u.shape
        n = A.shape[2]
        ctx.delta_softplus = delta_softplus
        decaying = bool((A <= 0).all())
        chunk = min(chunk_size, length)
        work = _Workspace(A, (b, g, dg, n, chunk), 2)
        A_log2 = A * _LOG2_E
        state = A.new_zeros((b, g, dg, n))
        y = A.new_empty((b, g, dg, length))
        segments, start_states = [], []
        # Segments still to scan, the next one last (a stack).
        pending = [(s, min(s + chunk, length))
                   for s in range(0, length, chunk)][::-1]
        while pending:
            start, stop = pending.pop()
            seg = slice(start, stop)
            u_seg = u[..., seg].to(A.dtype)
            _, delta_seg = _biased_delta(delta[..., seg], delta_bias,
                                         delta_softplus, A.dtype)
            delta_seg = delta_seg.unsqueeze(-2)  # (b, g, dg, 1, T)
            delta_cum = delta_seg.cumsum(-1)
            monotone = decaying and (delta_softplus
                                     or bool((delta_seg >= 0).all()))
            ref, span = _log_decay_reference(delta_cum, A, monotone)
            if stop - start > 1 and bool(span > 2 * max_log_scale):
                mid = (start + stop) // 2
                pending += [(mid, stop), (start, mid)]
                continue
            growth, states = work.views(stop - start)
            _growth(delta_cum, A_log2, ref, out=growth)
            _ChunkedSelectiveScan._segment_states(
                delta_seg * u_seg.unsqueeze(-2), B[..., seg], state, ref,
                growth, states)
            # y_t = <C_t, x_t>; growth is free again and holds C_t * x_t.
            y_seg = y[..., seg]
            torch.sum(
                torch.mul(states, C[..., seg], out=growth), -2, out=y_seg)
            if D is not None:
                y_seg.addcmul_(u_seg, D)
            if z is not None:
                y_seg.mul_(F.silu(z[..., seg].to(A.dtype)))
            segments.append((start, stop, monotone))
            start_states.append(state)
            state = states[..., -1].clone()
        ctx.segments = segments
        ctx.has_D, ctx.has_z = D is not None, z is not None
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias,
                              torch.stack(start_states))
        return y, state

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y: Tensor, grad_last: Tensor):
        u, delta, A, B, C, D, z, delta_bias, start_states = ctx.saved_tensors
        b, g, dg, length = u.shape
        chunk = max(stop - start for start, stop, _ in ctx.segments)
        work = _Workspace(A, (b, g, dg, A.shape[2], chunk), 5)
        A_log2 = A * _LOG2_E
        grad_u = A.new_empty(u.shape)
        grad_delta = A.new_empty(delta.shape)
        grad_z = A.new_empty(z.shape) if ctx.has_z else None
        grad_A = torch.zeros_like(A)
        grad_B = torch.empty_like(B)
        grad_C = torch.empty_like(C)
        grad_D = torch.zeros_like(D) if ctx.has_D else None
        grad_bias = (
            torch.zeros_like(delta_bias) if delta_bias is not None else None)
        carry = grad_last
        for index in range(len(ctx.segments) - 1, -1, -1):
            start, stop, monotone = ctx.segments[index]
            seg = slice(start, stop)
            u_seg = u[..., seg].to(A.dtype)
            raw_seg, delta_seg = _biased_delta(delta[..., seg], delta_bias,
                                               ctx.delta_softplus, A.dtype)
            u_seg5, delta_seg5 = u_seg.unsqueeze(-2), delta_seg.unsqueeze(-2)
            delta_u_seg5 = delta_seg5 * u_seg5
            growth, drive, states, rev, tmp = work.views(stop - start)
            delta_cum = delta_seg5.cumsum(-1)
            ref, _ = _log_decay_reference(delta_cum, A, monotone)
            _growth(delta_cum, A_log2, ref, out=growth)
            _ChunkedSelectiveScan._segment_states(delta_u_seg5, B[..., seg],
                                                  start_states[index], ref,
                                                  growth, states, drive)
            grad_out = grad_y[..., seg]  # (b, g, dg, T)
            if ctx.has_z:
                z_seg = z[..., seg].to(A.dtype)
                gate = torch.sigmoid(z_seg)
                y_ssm = torch.sum(
                    torch.mul(states, C[..., seg], out=tmp), -2)
                if ctx.has_D:
                    y_ssm.addcmul_(u_seg, D)
                # d silu(z) / dz = sigmoid(z) (1 + z (1 - sigmoid(z)))
                grad_z[..., seg] = grad_out * y_ssm * gate * (
                    1 + z_seg * (1 - gate))
                grad_out = grad_out * z_seg * gate
            if ctx.has_D:
                grad_D += (grad_out * u_seg).sum(-1, keepdim=True).sum(0)
            grad_out5 = grad_out.unsqueeze(-2)  # (b, g, dg, 1, T)
            # Reverse cumulative sum of w_s * dL/dx_s (direct terms).
            torch.mul(grad_out5, C[..., seg], out=rev).mul_(growth)
            rev[..., -1] += carry * growth[..., -1]
            rev = rev.flip(-1).cumsum_(-1).flip(-1)
            carry = rev[..., 0] * torch.exp(ref[..., 0])
            grad_states = rev.div_(growth)  # dL/dx_t incl. later tokens
            grad_delta_u = torch.sum(
                torch.mul(grad_states, B[..., seg], out=tmp), -2)
            torch.sum(
                torch.mul(grad_states, delta_u_seg5, out=tmp),
                2,
                keepdim=True,
                out=grad_B[..., seg])
            torch.sum(
                torch.mul(grad_out5, states, out=tmp),
                2,
                keepdim=True,
                out=grad_C[..., seg])
            grad_log_decay = grad_states.mul_(states.sub_(drive))
            grad_delta_seg = torch.sum(
                torch.mul(grad_log_decay, A, out=tmp), -2)
            grad_A += torch.mul(grad_log_decay, delta_seg5,
                                out=tmp).sum(-1, True).sum(0)
            grad_delta_seg.addcmul_(grad_delta_u, u_seg)
            if ctx.delta_softplus:
                grad_delta_seg.mul_(torch.sigmoid(raw_seg))
            if grad_bias is not None:
                grad_bias += grad_delta_seg.sum(-1, keepdim=True).sum(0)
            grad_delta[..., seg] = grad_delta_seg
            grad_u_seg = grad_delta_u * delta_seg
            if ctx.has_D:
                grad_u_seg.addcmul_(grad_out, D)
            grad_u[..., seg] = grad_u_seg
        return (grad_u.to(u.dtype), grad_delta.to(delta.dtype), grad_A,
                grad_B, grad_C, grad_D,
                None if grad_z is None else grad_z.to(z.dtype), grad_bias,
                None, None, None)


def default_chunk_size(batch: int, channels: int, state: int) -> int:
    """Tokens per chunk: the largest power of two from 16 to 64 whose
    ``(batch, channels, state, chunk)`` temporaries hold at most 2^21
    values (8 MiB in float32).

    Measured on a 2-core CPU: 64 at the scan benchmark's size and CMIM's
    P3/P4 (b=2, d=1024, n=16); 16 at CMIM's P5 (b=2, d=2048, n=32), where 64
    was 1.8x slower (32 MiB temporaries stream through memory several
    times per chunk).
    """
    chunk = 64
    while chunk > 16 and batch * channels * state * chunk > 2**21:
        chunk //= 2
    return chunk


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
        chunk_size: Optional[int] = None,
        max_log_scale: float = DEFAULT_MAX_LOG_SCALE) -> ScanOutput:
    """Chunked parallel selective scan in pure PyTorch (any device).

    Args:
        u, delta, A, B, C, D, z, delta_bias, delta_softplus,
        return_last_state: as in mamba_ssm (see the module docstring).
        chunk_size (int, optional): tokens scanned in parallel; the working
            memory is a few ``(b, d, n, chunk_size)`` tensors. Default
            (None): :func:`default_chunk_size`.
        max_log_scale (float): segments whose cumulative log-decay spans
            more than twice this value are halved (recursively), so no
            ``exp`` overflows.

    Returns:
        Tensor or tuple: ``(b, d, l)`` output (and ``(b, d, n)`` last state).
    """
    groups = _check_inputs(u, delta, A, B, C, D, z, delta_bias)
    if chunk_size is None:
        chunk_size = default_chunk_size(u.shape[0], u.shape[1], A.shape[1])
    if chunk_size < 1:
        raise ValueError(f'chunk_size must be >= 1, got {chunk_size}')
    dtype = _compute_dtype(u)
    b, d, length = u.shape
    n = A.shape[1]
    dg = d // groups

    def tokens(t: Optional[Tensor]) -> Optional[Tensor]:
        return None if t is None else t.reshape(b, groups, dg, length)

    def channels(t: Optional[Tensor]) -> Optional[Tensor]:
        return None if t is None else t.to(dtype).view(groups, dg, 1)

    def per_group(t: Tensor) -> Tensor:
        # (b, [g,] n, l) -> (b, g, 1, n, l): broadcast over dg channels.
        return (t if t.dim() == 4 else t[:, None]).to(dtype).unsqueeze(2)

    y, state = _ChunkedSelectiveScan.apply(
        tokens(u), tokens(delta), A.to(dtype).view(groups, dg, n, 1),
        per_group(B), per_group(C), channels(D), tokens(z),
        channels(delta_bias), delta_softplus, chunk_size, max_log_scale)
    y = y.reshape(b, d, length).to(u.dtype)
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
