"""FDR: the Frequency Domain Reconstruction of IFKD (paper eqs. 3-8).

A feature map is moved to the frequency domain per channel, its low
frequencies (a centred square window) are re-weighted in space by the FRS
mask (the teacher's largest class probability per location), a learnable
per-channel frequency filter is applied and the result is moved back. IFKD
applies FDR to the teacher and to the adapted student feature before the
feature-imitation loss on the high-resolution FPN levels.
"""
import torch
from torch import Tensor, nn

from mmosar.registry import MODELS

FILTER_BRANCHES = ('both', 'student')
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


def shifted_spectrum(x: Tensor) -> Tensor:
    """Centred 2-D DFT over the two last (spatial) axes (eq. 3)."""
    return torch.fft.fftshift(torch.fft.fft2(x, dim=(-2, -1)), dim=(-2, -1))


def from_shifted_spectrum(spectrum: Tensor) -> Tensor:
    """Inverse of :func:`shifted_spectrum` (complex result)."""
    return torch.fft.ifft2(
        torch.fft.ifftshift(spectrum, dim=(-2, -1)), dim=(-2, -1))


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

    ``impl='paper'`` (default, fixed): FFT over ``(H, W)``;
    ``F_hat = (F_h + DFT(IDFT(F_l) * M_FRS)) * W``; output ``IDFT(F_hat)``.
    ``W`` is one learnable weight per channel initialised to 1 (identity):
    the paper's ``U x V x C`` filter cannot have a fixed ``U x V`` when the
    feature size follows the input, and for a frequency-independent filter
    a complex phase would not survive the real output, so ``W`` is real.
    Because ``W`` is constant over frequencies, the output is computed as
    ``W_c * (f + (M_FRS - 1) * f^l)`` with ``f^l`` from :func:`low_pass`,
    which equals eq. 8 exactly at the cost of one real FFT pair. With
    ``normalize_filter`` ``W`` is divided by its mean magnitude over
    channels, so the loss cannot drive it to zero;
    ``filter_branch='student'`` applies it to the student only (the teacher
    target is then never filtered).

    ``impl='released'`` mimics the released code: the feature is permuted to
    ``(B, W, C, H)`` so the 2-D FFT runs over (channel, height); the window
    is sized from ``min(C, H)``; ``M_FRS`` multiplies the shifted low
    frequencies directly (needs square maps); the per-channel complex weight
    (``N(0, 0.02^2)`` init, shared by teacher and student) multiplies the
    inverse transform whose magnitude is returned; without the spectrum
    edit (probability ``1 - p``) the output is ``|w| * |x|``.

    Args:
        channels: Feature channels ``C``.
        ratio: Low-pass window ratio ``r`` (0.1).
        p: Probability of applying the spectrum edit per call (paper 1.0,
            released 0.5). Only used in training mode.
        impl: ``'paper'`` or ``'released'``.
        normalize_filter: Divide ``W`` by its mean magnitude (paper impl).
        filter_branch: ``'both'`` or ``'student'`` (paper impl).
    """

    def __init__(self,
                 channels: int = 256,
                 ratio: float = 0.1,
                 p: float = 1.0,
                 impl: str = 'paper',
                 normalize_filter: bool = True,
                 filter_branch: str = 'both') -> None:
        super().__init__()
        if impl not in IMPLS:
            raise ValueError(f'impl must be one of {IMPLS}, got {impl!r}')
        if filter_branch not in FILTER_BRANCHES:
            raise ValueError(f'filter_branch must be one of '
                             f'{FILTER_BRANCHES}, got {filter_branch!r}')
        self.ratio = ratio
        self.p = p
        self.impl = impl
        self.normalize_filter = normalize_filter
        self.filter_branch = filter_branch
        if impl == 'released':
            # (C, 2): real and imaginary part of a complex weight per channel
            self.filter_weight = nn.Parameter(
                torch.randn(channels, 2) * 0.02)
        else:
            self.filter_weight = nn.Parameter(torch.ones(channels))

    def channel_filter(self) -> Tensor:
        """Per-channel filter ``(C,)`` as applied (complex if released)."""
        if self.impl == 'released':
            return torch.view_as_complex(self.filter_weight.contiguous())
        w = self.filter_weight
        if self.normalize_filter:
            w = w / w.abs().mean().clamp_min(1e-12)
        return w

    def forward(self, x: Tensor, frs_mask: Tensor,
                is_teacher: bool = False) -> Tensor:
        """Reconstruct ``x``.

        Args:
            x: Feature ``(B, C, H, W)``.
            frs_mask: FRS mask ``(B, H, W)`` in [0, 1].
            is_teacher: Whether ``x`` is the teacher feature (decides the
                filter with ``filter_branch='student'``).

        Returns:
            Reconstructed feature ``(B, C, H, W)`` (half precision inputs
            are computed and returned in float32: FFTs need it).
        """
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
        if is_teacher and self.filter_branch == 'student':
            return x
        return x * self.channel_filter().to(x.dtype)[None, :, None, None]

    def _forward_released(self, x: Tensor, frs_mask: Tensor,
                          edit: bool) -> Tensor:
        w = self.channel_filter()[None, :, None, None]
        if not edit:
            return (w * x).abs()
        height, width = x.shape[-2:]
        if height != width:
            raise ValueError(
                "FDR impl='released' multiplies the FRS mask into the "
                f'spectrum and needs square maps, got {height}x{width}')
        xp = x.permute(0, 3, 1, 2)  # (B, W, C, H): FFT over (C, H)
        spectrum = shifted_spectrum(xp)
        window = low_pass_window(*xp.shape[-2:], self.ratio, x.device)
        # the mask's (H, W) lands on the (C, H) spectrum via broadcasting
        # of its last axis with H (square maps): spectrum[b, w', c, h] *
        # M[b, w', h] for the low frequencies, as the released code does.
        frs = frs_mask[:, :, None, :].to(spectrum.dtype)
        spectrum = spectrum * (1 - window) + spectrum * window * frs
        out = from_shifted_spectrum(spectrum).permute(0, 2, 3, 1)
        return (w * out).abs()
