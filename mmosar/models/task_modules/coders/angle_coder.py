"""Angle coders: how a head's angle branch encodes the box angle.

A head with an angle coder predicts ``encode_size`` channels per prior for the
angle; :meth:`encode` turns angle targets (radians, shape (N, 1)) into that
representation (used by ``loss_angle``) and :meth:`decode` turns predictions
back into radians. Names and arguments follow mmrotate 1.x.
"""
import math

import torch
from mmdet.models.task_modules.coders import BaseBBoxCoder
from torch import Tensor

from mmosar.registry import TASK_UTILS


@TASK_UTILS.register_module()
class PseudoAngleCoder(BaseBBoxCoder):
    """Identity coder: the angle branch predicts the angle in radians
    directly (``encode_size = 1``)."""

    encode_size = 1

    def encode(self, angle_targets: Tensor) -> Tensor:
        """Angle targets (N, 1) in radians, returned unchanged."""
        return angle_targets

    def decode(self, angle_preds: Tensor, keepdim: bool = False) -> Tensor:
        """Angles from predictions (..., 1): (..., 1) with ``keepdim``,
        else (...)."""
        return angle_preds if keepdim else angle_preds.squeeze(-1)


@TASK_UTILS.register_module()
class CSLCoder(BaseBBoxCoder):
    """Circular Smooth Label (Yang & Yan, ECCV 2020): the angle as a class
    over ``encode_size = range / omega`` bins with a circular window.

    An angle ``t`` (radians) falls in bin ``c = floor((deg(t) + offset) /
    omega)`` (``offset`` 90 for ``le90``, 45 for ``le135``, 0 for ``oc``;
    range 180 degrees, 90 for ``oc``). The label is a window centred on
    ``c``, wrapped around the bins:

    * ``'pulse'``: 1 at ``c``;
    * ``'rect'``: 1 at ``c + k``, ``k in [-radius, radius)``;
    * ``'triangle'``: ``1 - |k| / radius`` at ``c + k``, same ``k``;
    * ``'gaussian'``: at ``c + k`` for ``k in [-range/2, range/2)``, the
      released mmrotate value ``exp(-k^2) / (2 radius^2)`` (its brackets
      differ from the paper's ``exp(-k^2 / (2 radius^2))``; choose
      ``gaussian_form='paper'`` for the latter).

    Decoding takes the arg-max bin: ``t = rad(((c + 0.5) omega) mod range
    - offset)``.

    Args:
        angle_version (str): ``'oc'``, ``'le90'`` or ``'le135'``.
        omega (float): Bin width in degrees. Defaults to 1.
        window (str): ``'gaussian'``, ``'triangle'``, ``'rect'`` or
            ``'pulse'``. Defaults to ``'gaussian'``.
        radius (float): Window radius (in bins). Defaults to 6.
        gaussian_form (str): ``'released'`` (default) or ``'paper'``.
    """

    OFFSETS = {'oc': 0, 'le90': 90, 'le135': 45}

    def __init__(self,
                 angle_version: str,
                 omega: float = 1,
                 window: str = 'gaussian',
                 radius: float = 6,
                 gaussian_form: str = 'released') -> None:
        super().__init__()
        if angle_version not in self.OFFSETS:
            raise ValueError('CSLCoder angle_version must be oc, le90 or '
                             f'le135, got {angle_version!r}.')
        if window not in ('gaussian', 'triangle', 'rect', 'pulse'):
            raise ValueError(f'Unknown CSL window {window!r}.')
        if gaussian_form not in ('released', 'paper'):
            raise ValueError(f'Unknown gaussian_form {gaussian_form!r}.')
        self.angle_version = angle_version
        self.angle_range = 90 if angle_version == 'oc' else 180
        self.angle_offset = self.OFFSETS[angle_version]
        self.omega = omega
        self.window = window
        self.radius = radius
        self.gaussian_form = gaussian_form
        self.encode_size = int(self.angle_range // omega)

    def encode(self, angle_targets: Tensor) -> Tensor:
        """Smooth labels (N, encode_size) of angles (N, 1) in radians."""
        bins = ((angle_targets * (180 / math.pi) + self.angle_offset) /
                self.omega).long()
        labels = angle_targets.new_zeros(
            (angle_targets.size(0), self.encode_size))
        if self.window == 'pulse':
            return labels.scatter(1, bins % self.encode_size, 1.0)
        if self.window == 'gaussian':
            half = self.angle_range // 2
            steps = torch.arange(-half, half, device=angle_targets.device)
        else:
            steps = torch.arange(
                -self.radius, self.radius, device=angle_targets.device)
        if self.window == 'rect':
            values = torch.ones_like(steps, dtype=labels.dtype)
        elif self.window == 'triangle':
            values = 1.0 - (steps / self.radius).abs().to(labels.dtype)
        elif self.gaussian_form == 'released':
            values = torch.exp(-steps.to(labels.dtype)**2) / (
                2 * self.radius**2)
        else:
            values = torch.exp(-steps.to(labels.dtype)**2 /
                               (2 * self.radius**2))
        index = (steps.long()[None] + bins) % self.encode_size
        return labels.scatter(1, index, values[None].expand_as(index))

    def decode(self, angle_preds: Tensor, keepdim: bool = False) -> Tensor:
        """Angles (radians) of the arg-max bins of (..., encode_size)
        predictions: (..., 1) with ``keepdim``, else (...)."""
        if angle_preds.numel() == 0:
            shape = list(angle_preds.shape[:-1]) + ([1] if keepdim else [])
            return angle_preds.new_zeros(shape)
        bins = angle_preds.argmax(dim=-1, keepdim=keepdim)
        degrees = ((bins + 0.5) * self.omega) % self.angle_range - \
            self.angle_offset
        return degrees * (math.pi / 180)


@TASK_UTILS.register_module()
class PSCCoder(BaseBBoxCoder):
    """Phase-Shifting Coder (Yu & Da, CVPR 2023): the angle as ``num_step``
    phase-shifted cosines of ``2t`` (and, with ``dual_freq``, of ``4t``).

    Encoding: ``cos(2t + 2 pi k / N)`` for ``k = 0..N-1`` (then the same of
    ``4t``). Decoding of a pattern ``x``: ``phi = -atan2(sum x_k sin(2 pi
    k / N), sum x_k cos(2 pi k / N))``; with ``dual_freq`` the ``4t`` phase
    ``phi2 = phi_4 / 2`` is used, moved by ``pi`` when it disagrees in sign
    with the ``2t`` phase; where the modulation ``sin^2 + cos^2`` (of the
    last frequency decoded) is below ``thr_mod`` the phase is set to 0.
    The angle is ``phase / 2`` (le90).

    Args:
        angle_version (str): Only ``'le90'``.
        dual_freq (bool): Also encode ``4t``. Defaults to True.
        num_step (int): Phase steps N. Defaults to 3.
        thr_mod (float): Modulation threshold. Defaults to 0.47.
    """

    def __init__(self,
                 angle_version: str,
                 dual_freq: bool = True,
                 num_step: int = 3,
                 thr_mod: float = 0.47) -> None:
        super().__init__()
        if angle_version != 'le90':
            raise ValueError('PSCCoder supports angle_version le90 only, got '
                             f'{angle_version!r}.')
        self.angle_version = angle_version
        self.dual_freq = dual_freq
        self.num_step = num_step
        self.thr_mod = thr_mod
        self.encode_size = 2 * num_step if dual_freq else num_step
        shifts = torch.arange(num_step, dtype=torch.float64) * (
            2 * math.pi / num_step)
        self.coef_sin = torch.sin(shifts)
        self.coef_cos = torch.cos(shifts)

    def encode(self, angle_targets: Tensor) -> Tensor:
        """Patterns (N, encode_size) of angles (N, 1) in radians."""
        shifts = torch.arange(
            self.num_step, dtype=angle_targets.dtype,
            device=angle_targets.device) * (2 * math.pi / self.num_step)
        patterns = [torch.cos(angle_targets * 2 + shifts)]
        if self.dual_freq:
            patterns.append(torch.cos(angle_targets * 4 + shifts))
        return torch.cat(patterns, dim=-1)

    def _phase(self, patterns: Tensor, keepdim: bool) -> tuple:
        sin = (patterns * self.coef_sin.to(patterns)).sum(-1, keepdim=keepdim)
        cos = (patterns * self.coef_cos.to(patterns)).sum(-1, keepdim=keepdim)
        return -torch.atan2(sin, cos), cos**2 + sin**2

    def decode(self, angle_preds: Tensor, keepdim: bool = False) -> Tensor:
        """Angles (radians) of (..., encode_size) patterns: (..., 1) with
        ``keepdim``, else (...)."""
        phase, modulation = self._phase(angle_preds[..., :self.num_step],
                                        keepdim)
        if self.dual_freq:
            phase4, modulation = self._phase(
                angle_preds[..., self.num_step:2 * self.num_step], keepdim)
            phase2 = phase4 / 2
            flip = (torch.cos(phase) * torch.cos(phase2) +
                    torch.sin(phase) * torch.sin(phase2)) < 0
            phase = torch.where(flip, phase2 % (2 * math.pi) - math.pi,
                                phase2)
        phase = torch.where(modulation < self.thr_mod,
                            torch.zeros_like(phase), phase)
        return phase / 2
