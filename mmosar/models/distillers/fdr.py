"""FDR: the Frequency Domain Reconstruction of IFKD (paper eqs. 3-8).

A feature map is moved to the frequency domain per channel, its low
frequencies (a centred square window) are re-weighted in space by the FRS
mask (the teacher's largest class probability per location), a per-channel
frequency filter is applied and the result is moved back. IFKD
applies FDR to the teacher and to the adapted student feature before the
feature-imitation loss on the high-resolution FPN levels.
"""
from typing import Optional

import torch
from torch import Tensor, nn

from mmosar.registry import MODELS

FILTERS = ('fixed', 'shared', 'student')
IMPLS = ('paper', 'released')


def low_pass_window(height: int,
                    width: int,
                    ratio: float,
                    device=None) -> Tensor:
    """Binary centred square low-pass window of a shifted spectrum (eq. 4).

    ``M(u, v) = 1`` iff ``max(|u - H//2|, |v - W//2|) <= ratio*min(H, W)/2``;
    after ``fftshift`` index ``H//2`` (``W//2``) holds the zero frequency.

    Args:
        height: Spectrum height ``H``.
        width: Spectrum width ``W``.
        ratio: Window side relative to ``min(H, W)`` (released code: 0.1).
            A ratio >= ``2 * max(H, W) / min(H, W)`` passes everything.
        device: Device of the result.

    Returns:
        Float window ``(H, W)`` of 0 and 1.
    """
    half = ratio * min(height, width) / 2
    u = (torch.arange(height, device=device) - height // 2).abs()
    v = (torch.arange(width, device=device) - width // 2).abs()
    return (torch.maximum(u[:, None], v[None, :]) <= half).float()


def low_pass(x: Tensor, ratio: float) -> Tensor:
    """Spatial low-frequency part ``f^l = IDFT(M_bin * DFT(f))`` (eqs. 5, 7).

    Computed with a real FFT and the window moved to the unshifted layout
    (no ``fftshift`` round trip): the centred square window is symmetric,
    so this equals the shifted-spectrum formulation exactly.

    Args:
        x: Real feature ``(B, C, H, W)``.
        ratio: Window ratio ``r``.

    Returns:
        Real tensor ``(B, C, H, W)``.
    """
    height, width = x.shape[-2:]
    window = torch.fft.ifftshift(
        low_pass_window(height, width, ratio, device=x.device))
    spectrum = torch.fft.rfft2(x, dim=(-2, -1))
    return torch.fft.irfft2(
        spectrum * window[:, :width // 2 + 1], s=(height, width),
        dim=(-2, -1))


@MODELS.register_module()
class FrequencyDomainReconstruction(nn.Module):
    """FDR module.

    ``impl='paper'`` (default): FFT over ``(H, W)``;
    ``F_hat = (F_h + DFT(IDFT(F_l) * M_FRS)) * W``; output ``IDFT(F_hat)``
    (eqs. 3-8). ``W`` is one real weight per channel, chosen by ``filter``:

    * ``'fixed'`` (default): ``W = 1``, no parameter. A filter trained by
      the feature-imitation loss it multiplies can only lower that loss by
      moving weight off the channels where teacher and student disagree,
      i.e. off the distillation signal (the released filter does; see
      ``tests/test_distillers/test_ifkd_fdr.py``), so it is fixed.
    * ``'shared'``: learnable, applied to teacher and student, divided by
      its mean magnitude over channels (cannot shrink to 0, but drifts
      onto the easy channels).
    * ``'student'``: learnable, normalised, on the student side only (the
      teacher target is never filtered).

    The paper's ``U x V x C`` filter cannot have a fixed ``U x V`` when the
    feature size follows the input, and for a frequency-independent filter
    a complex phase would not survive the real output, so ``W`` is real per
    channel. Because ``W`` is constant over frequencies, the output is
    computed as ``W_c * (f + (M_FRS - 1) * f^l)`` with ``f^l`` from
    :func:`low_pass`, which equals eq. 8 exactly at the cost of one real FFT
    pair.

    ``impl='released'`` computes what the released ``forward_FRD`` does:
    the feature is permuted to ``(B, W, C, H)`` so the 2-D FFT
    (``norm='ortho'``) runs over (channel, height); after ``fftshift`` the
    window is sized from ``min(C, H)``; ``M_FRS[:, :, None, :]`` multiplies
    the low frequencies directly (its row index pairs with the permuted
    width axis, its column index with the frequency-height axis: square
    maps only); the inverse transform is multiplied by one complex weight
    per channel (``filter_weight`` ``(1, C, 2)``, ``N(0, 0.02^2)``, shared
    by teacher and student, not normalised) and its magnitude is returned.
    Without the spectrum edit the output is ``|w_c| |IDFT(DFT(x))|``.

    Args:
        channels: Feature channels ``C``.
        ratio: Low-pass window ratio ``r`` (0.1).
        p: Probability of applying the spectrum edit per call (paper 1.0,
            released 0.5). Only used in training mode.
        impl: ``'paper'`` or ``'released'``.
        filter: ``'fixed'``, ``'shared'`` or ``'student'`` (paper impl).
    """

    def __init__(self,
                 channels: int = 256,
                 ratio: float = 0.1,
                 p: float = 1.0,
                 impl: str = 'paper',
                 filter: str = 'fixed') -> None:
        super().__init__()
        if impl not in IMPLS:
            raise ValueError(f'impl must be one of {IMPLS}, got {impl!r}')
        if filter not in FILTERS:
            raise ValueError(
                f'filter must be one of {FILTERS}, got {filter!r}')
        self.ratio = ratio
        self.p = p
        self.impl = impl
        self.filter = filter
        if impl == 'released':
            # real and imaginary part of a complex weight per channel
            self.filter_weight = nn.Parameter(
                torch.randn(1, channels, 2) * 0.02)
        elif filter != 'fixed':
            self.filter_weight = nn.Parameter(torch.ones(channels))

    def channel_filter(self) -> Optional[Tensor]:
        """Per-channel filter ``(C,)`` as applied (complex if released),
        None for the fixed identity filter."""
        if self.impl == 'released':
            return torch.view_as_complex(self.filter_weight.contiguous())[0]
        if self.filter == 'fixed':
            return None
        w = self.filter_weight
        return w / w.abs().mean().clamp_min(1e-12)

    def forward(self,
                x: Tensor,
                frs_mask: Tensor,
                is_teacher: bool = False,
                edit: Optional[bool] = None) -> Tensor:
        """Reconstruct ``x``.

        Args:
            x: Feature ``(B, C, H, W)``.
            frs_mask: FRS mask ``(B, H, W)`` in [0, 1].
            is_teacher: Whether ``x`` is the teacher feature (decides the
                filter with ``filter='student'``).
            edit: Apply the spectrum edit (True) or skip it (False); None
                draws it with probability ``p`` in training mode (always in
                eval mode).

        Returns:
            Reconstructed feature ``(B, C, H, W)`` (half precision inputs
            are computed and returned in float32: FFTs need it).
        """
        if edit is None:
            edit = not self.training or self.p >= 1 or \
                torch.rand(()).item() < self.p
        if x.dtype in (torch.float16, torch.bfloat16):
            x = x.float()
        frs_mask = frs_mask.to(x.dtype)
        if self.impl == 'released':
            return self._forward_released(x, frs_mask, edit)
        if edit:
            # F_h + DFT(f^l * M) = DFT(f + (M - 1) f^l)
            x = x + (frs_mask[:, None] - 1) * low_pass(x, self.ratio)
        w = self.channel_filter()
        if w is None or (is_teacher and self.filter == 'student'):
            return x
        return x * w.to(x.dtype)[None, :, None, None]

    def _forward_released(self, x: Tensor, frs_mask: Tensor,
                          edit: bool) -> Tensor:
        height, width = x.shape[-2:]
        if edit and height != width:
            raise ValueError(
                "FDR impl='released' multiplies the FRS mask into the "
                f'spectrum and needs square maps, got {height}x{width}')
        xp = x.permute(0, 3, 1, 2)  # (B, W, C, H): FFT over (C, H)
        spectrum = torch.fft.fft2(xp, norm='ortho')
        if edit:
            spectrum = torch.fft.fftshift(spectrum, dim=(-2, -1))
            window = low_pass_window(*xp.shape[-2:], self.ratio, x.device)
            frs = frs_mask[:, :, None, :]
            spectrum = spectrum * window * frs + spectrum * (1 - window)
            spectrum = torch.fft.ifftshift(spectrum, dim=(-2, -1))
        out = torch.fft.ifft2(spectrum, norm='ortho').permute(0, 2, 3, 1)
        return (out * self.channel_filter()[None, :, None, None]).abs()
