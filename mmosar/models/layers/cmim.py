"""CMIM: the Cross-modal Mamba Interaction Module of E2E-OSDet (M4-SAR).

CMIM lets the optical and SAR streams exchange information with a
selective state space model (Mamba S6) that scans the two token sequences
as one. With stream features ``X_o, X_s`` of ``C`` channels flattened to
``L = H W`` tokens (raster order), ``D = expand * C`` inner channels,
``N`` states and ``R = ceil(C / 16)`` step-size rank:

1. gates ``G_m = SiLU(W_g^m X_m)`` and values ``U_m = W_u^m X_m``
   (bias-free ``C -> D`` maps, m in {o, s});
2. ``U_m <- SiLU(DWConv1d_k3^m(U_m))``: a depthwise 1-D conv along the
   token sequence of each modality;
3. cross-modal sequence ``Z = [U_o ; U_s]`` (length ``2L``), scanned in
   two directions, ``Z`` and ``reverse(Z)``;
4. for each direction k, with its own parameters:
   ``[dt~; B_t; C_t] = W_x^k z_t``, ``delta_t = softplus(W_dt^k dt~ +
   b_dt^k)``, ``A^k = -exp(A_log^k)`` and
   ``h_t = exp(delta_t A^k) h_{t-1} + delta_t B_t z_t``,
   ``y^k_t = C_t h_t + D^k z_t``;
5. merge ``Y = y^1 + reverse(y^2)``, split into the optical (first ``L``)
   and SAR (last ``L``) tokens;
6. ``Delta_m = W_out^m (LN^m(Y_m) * G_m)`` (``D -> C``, no bias);
7. residual update ``F'_m = F_m + Delta_m`` (released code: "Add_GPT").

Because every token of the joint sequence is reachable from both
directions, each output depends on both modalities.

Released code vs this module: the released ``ConMB_SS2D`` stacks the two
maps vertically (so it assumes ``H == W``); concatenating the flattened
sequences is the same operation and works for any ``H x W``. The release
also builds, but never uses, a 3x3 depthwise conv and two SE-style MLPs
per modality (about 0.07 M / 0.28 M parameters at C = 256 / 512); they
are not built here.
"""
import math
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmosar.registry import MODELS

from .selective_scan import selective_scan

MODALITIES = ('optical', 'sar')


@MODELS.register_module()
class CMIM(BaseModule):
    """Cross-modal Mamba Interaction Module (see the module docstring).

    Args:
        channels (int): ``C``, channels of each stream.
        d_state (int): ``N``, SSM state size (16 at P3/P4, 32 at P5).
        expand (int): ``D = expand * C``.
        dt_rank (int or 'auto'): ``R``; ``'auto'`` is ``ceil(C / 16)``.
        conv_kernel (int): kernel of the 1-D depthwise conv.
        dt_min, dt_max, dt_init_floor (float): initial step sizes are
            log-uniform in ``[dt_min, dt_max]``, floored at ``dt_init_floor``.
        residual (bool): return ``F_m + Delta_m`` (True) or the updates
            ``Delta_m`` alone.
        scan_backend (str): :func:`selective_scan` backend (``'auto'``).
        scan_dtype (str, optional): dtype of the scan and of the sum of its
            two directions, e.g. ``'float32'`` (released: the scan inputs
            are cast to float32 whatever the model dtype, and the merged
            output is cast back before the LayerNorm). None: the dtype of
            the features, at least float32.
        init_cfg (dict, optional): mmengine init config.

    Shapes:
        ``forward(x_opt (B, C, H, W), x_sar (B, C, H, W))`` returns a pair of
        ``(B, C, H, W)`` maps (optical, SAR).
    """

    num_directions = 2

    def __init__(self,
                 channels: int,
                 d_state: int = 16,
                 expand: int = 2,
                 dt_rank: Union[int, str] = 'auto',
                 conv_kernel: int = 3,
                 dt_min: float = 1e-3,
                 dt_max: float = 0.1,
                 dt_init_floor: float = 1e-4,
                 residual: bool = True,
                 scan_backend: str = 'auto',
                 scan_dtype: Optional[str] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.channels = channels
        self.d_state = d_state
        self.d_inner = expand * channels
        self.dt_rank = (math.ceil(channels / 16)
                        if dt_rank == 'auto' else int(dt_rank))
        self.residual = residual
        self.scan_backend = scan_backend
        self.scan_dtype = None if scan_dtype is None else getattr(
            torch, scan_dtype)
        inner, k = self.d_inner, self.num_directions
        # Per modality: value and gate projections (one C -> 2D map), the
        # token-wise depthwise conv, the output norm and projection.
        self.in_proj = nn.ModuleDict({
            m: nn.Linear(channels, 2 * inner, bias=False)
            for m in MODALITIES
        })
        self.token_conv = nn.ModuleDict({
            m: nn.Conv1d(
                inner,
                inner,
                conv_kernel,
                padding=conv_kernel // 2,
                groups=inner)
            for m in MODALITIES
        })
        self.out_norm = nn.ModuleDict(
            {m: nn.LayerNorm(inner)
             for m in MODALITIES})
        self.out_proj = nn.ModuleDict({
            m: nn.Linear(inner, channels, bias=False)
            for m in MODALITIES
        })
        # Per scan direction: the S6 parameters.
        self.x_proj_weight = nn.Parameter(
            torch.empty(k, self.dt_rank + 2 * d_state, inner))
        self.dt_proj_weight = nn.Parameter(
            torch.empty(k, inner, self.dt_rank))
        self.dt_proj_bias = nn.Parameter(torch.empty(k, inner))
        self.A_log = nn.Parameter(torch.empty(k * inner, d_state))
        self.D = nn.Parameter(torch.empty(k * inner))
        self._init_ssm(dt_min, dt_max, dt_init_floor)

    def _init_ssm(self, dt_min: float, dt_max: float,
                  dt_init_floor: float) -> None:
        """Mamba initialisation of the S6 parameters."""
        with torch.no_grad():
            bound = self.d_inner**-0.5  # nn.Linear's default range
            self.x_proj_weight.uniform_(-bound, bound)
            self.dt_proj_weight.uniform_(-self.dt_rank**-0.5,
                                         self.dt_rank**-0.5)
            dt = torch.exp(
                torch.rand_like(self.dt_proj_bias) *
                (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
            dt = dt.clamp(min=dt_init_floor)
            # Inverse of softplus: softplus(bias) == dt.
            self.dt_proj_bias.copy_(dt + torch.log(-torch.expm1(-dt)))
            states = torch.arange(
                1, self.d_state + 1, dtype=torch.float32)
            self.A_log.copy_(torch.log(states).expand_as(self.A_log))
            self.D.fill_(1.0)

    def _values_and_gate(self, x: Tensor,
                         modality: str) -> Tuple[Tensor, Tensor]:
        """``(B, C, H, W) -> values (B, D, L), gate (B, L, D)``."""
        tokens = x.flatten(2).transpose(1, 2)  # (B, L, C)
        values, gate = self.in_proj[modality](tokens).chunk(2, dim=-1)
        values = F.silu(self.token_conv[modality](values.transpose(1, 2)))
        return values, F.silu(gate)

    def cross_modal_scan(self, seq: Tensor) -> Tensor:
        """Bidirectional selective scan of the joint sequence.

        Args:
            seq (Tensor): ``(B, D, 2L)``, optical tokens then SAR tokens.

        Returns:
            Tensor: ``y^1 + reverse(y^2)``, ``(B, D, 2L)``.
        """
        b, d, length = seq.shape
        k = self.num_directions
        xs = torch.stack([seq, seq.flip(-1)], dim=1)  # (B, K, D, 2L)
        # per direction k: (R + 2N, D) @ (D, 2L), batched over B and K
        # (matmul, unlike einsum, needs no permuted copies of xs)
        x_dbl = torch.matmul(self.x_proj_weight, xs)
        dt, B, C = x_dbl.split(
            [self.dt_rank, self.d_state, self.d_state], dim=2)
        dt = torch.matmul(self.dt_proj_weight, dt)  # (B, K, D, 2L)
        # at least float32 (half precision features under AMP)
        dtype = self.scan_dtype or torch.promote_types(seq.dtype,
                                                       torch.float32)
        y = selective_scan(
            xs.reshape(b, k * d, length).to(dtype),
            dt.reshape(b, k * d, length).to(dtype),
            -torch.exp(self.A_log.to(dtype)),
            B.contiguous().to(dtype),
            C.contiguous().to(dtype),
            self.D.to(dtype),
            delta_bias=self.dt_proj_bias.to(dtype).view(-1),
            delta_softplus=True,
            backend=self.scan_backend).view(b, k, d, length)
        return (y[:, 0] + y[:, 1].flip(-1)).to(seq.dtype)

    def forward(self, x_opt: Tensor, x_sar: Tensor) -> Tuple[Tensor, Tensor]:
        if x_opt.shape != x_sar.shape or x_opt.shape[1] != self.channels:
            raise ValueError(
                f'CMIM({self.channels}) needs two (B, {self.channels}, H, W) '
                f'maps of equal shape, got {tuple(x_opt.shape)} and '
                f'{tuple(x_sar.shape)}')
        b, c, h, w = x_opt.shape
        length = h * w
        values_opt, gate_opt = self._values_and_gate(x_opt, 'optical')
        values_sar, gate_sar = self._values_and_gate(x_sar, 'sar')
        merged = self.cross_modal_scan(
            torch.cat([values_opt, values_sar], dim=-1)).transpose(1, 2)
        outputs = []
        for modality, x, tokens, gate in (
                ('optical', x_opt, merged[:, :length], gate_opt),
                ('sar', x_sar, merged[:, length:], gate_sar)):
            update = self.out_proj[modality](
                self.out_norm[modality](tokens) * gate)
            update = update.transpose(1, 2).reshape(b, c, h, w)
            outputs.append(x + update if self.residual else update)
        return outputs[0], outputs[1]
