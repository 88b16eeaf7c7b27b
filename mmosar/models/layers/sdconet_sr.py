"""Super-resolution branch of SDCoNet.

SDCoNet shares one Swin encoder between detection and super-resolution (SR).
:class:`SwinTransformerSR` is mmdet's Swin that also hands out the per-stage
token maps the SR decoder needs as skips, and :class:`SwinSRDecoder` is the
U-shaped Swin up-decoder (SwinIR-like reconstruction) that turns them back into
an image at the high-resolution (HR) size. The decoder only runs in training.
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmdet.models.backbones import SwinTransformer
from mmdet.models.backbones.swin import SwinBlockSequence
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmosar.registry import MODELS


def scale_gradient(x: Tensor, scale: float) -> Tensor:
    """Identity in the forward pass, gradient multiplied by ``scale``.

    Args:
        x: Any tensor.
        scale: Gradient factor; 1 keeps ``x`` unchanged, 0 detaches it.

    Returns:
        Tensor: ``x`` (same values) whose backward gradient is scaled.
    """
    if scale == 1:
        return x
    if scale == 0:
        return x.detach()
    return x * scale + x.detach() * (1 - scale)


def _tokens_to_map(tokens: Tensor, hw_shape: Sequence[int]) -> Tensor:
    """``(B, H*W, C)`` tokens to a ``(B, C, H, W)`` map."""
    return tokens.view(-1, *hw_shape,
                       tokens.shape[-1]).permute(0, 3, 1, 2).contiguous()


def _resize_to(x: Tensor, like: Tensor) -> Tensor:
    """``x`` resized (bilinear, align_corners=False) to the size of
    ``like`` when the sizes differ."""
    if x.shape[-2:] == like.shape[-2:]:
        return x
    return F.interpolate(
        x, size=like.shape[-2:], mode='bilinear', align_corners=False)


@MODELS.register_module()
class SwinTransformerSR(SwinTransformer):
    """Swin Transformer that also returns the skips of the SR decoder.

    ``forward`` is mmdet's (the detection maps of ``out_indices``), so the
    model runs as a plain detection backbone at inference.
    ``forward_with_skips`` returns in addition, as ``(B, C, H, W)`` maps: the
    patch-embedding tokens, then the output of every stage (normalised for
    the stages in ``out_indices``, raw otherwise).
    """

    def forward_with_skips(self,
                           x: Tensor) -> Tuple[List[Tensor], List[Tensor]]:
        """Detection maps and SR skips.

        Args:
            x: ``(B, 3, H, W)`` images.

        Returns:
            tuple: ``outs``, the maps of ``out_indices`` (as ``forward``), and
            ``skips``, ``1 + num_stages`` maps (the first is the
            patch-embedding tokens as the first stage receives them) at
            strides ``patch_size``,
            ``patch_size``, ``2 * patch_size``... (for Swin-T with
            ``out_indices=(1, 2, 3)``: 96, 96, 192, 384, 768 channels).
        """
        x, hw_shape = self.patch_embed(x)
        if self.use_abs_pos_embed:
            x = x + self.absolute_pos_embed
        x = self.drop_after_pos(x)
        skips = [_tokens_to_map(x, hw_shape)]
        outs = []
        for i, stage in enumerate(self.stages):
            x, hw_shape, out, out_hw_shape = stage(x, hw_shape)
            if i in self.out_indices:
                out = getattr(self, f'norm{i}')(out)
                out = _tokens_to_map(out, out_hw_shape)
                outs.append(out)
            else:
                out = _tokens_to_map(out, out_hw_shape)
            skips.append(out)
        return outs, skips

    def forward(self, x: Tensor) -> List[Tensor]:
        """Detection maps of ``out_indices``, each ``(B, C_i, H_i, W_i)``."""
        return self.forward_with_skips(x)[0]


class _PatchExpand(nn.Module):
    """LayerNorm then a 2x transposed convolution without bias
    (``C_in -> C_out``)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(in_channels)
        self.up = nn.ConvTranspose2d(
            in_channels, out_channels, kernel_size=2, stride=2, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        x = self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return self.up(x)


@MODELS.register_module()
class SwinSRDecoder(BaseModule):
    """SR decoder of SDCoNet: a U-shaped Swin up-decoder on the shared
    encoder's skips, then a pixel-shuffle reconstruction.

    Steps (Swin-T numbers): a stride-2 conv + GN maps the deepest skip
    (768 ch, stride 32) to a 1536-ch bottleneck (stride 64, the release's
    ``ChannelMapperSR.extra_sr``); four times, a LayerNorm (over channels)
    + 2x transposed conv (no bias) halves the channels and doubles the size,
    the matching encoder skip is added (bilinearly resized to the decoder's
    size when they differ, as released) and a Swin stage runs (depths
    ``depths``, heads ``num_heads``, from deep to shallow); the
    patch-embedding skip is added, a LayerNorm and a ``patch_size``
    transposed conv restore the input (low-resolution) size;
    conv-conv-LeakyReLU, a pixel shuffle by ``upscale`` and a last conv give
    the image, plus ``output_offset``. It is resized (bilinear) to the
    requested size if that differs.

    ``bottleneck_layout`` says how the ``(B, C, H, W)`` bottleneck becomes
    the ``(B, H, W, C)`` tokens of the first LayerNorm: ``'transpose'``
    (paper intent: token ``(h, w)`` holds channel vector ``x[:, :, h, w]``)
    or ``'view'`` (the release, ``x.view(B, -1, C)``: the memory of the
    ``(C, H, W)`` tensor read as ``H * W`` rows of ``C`` values, which mixes
    channels and positions).

    Args:
        in_channels: Channels of the skips, shallow to deep: patch embedding,
            then each encoder stage (Swin-T: ``(96, 96, 192, 384, 768)``).
        upscale: Pixel-shuffle factor (HR size / LR size).
        patch_size: Patch size of the encoder (stride of the first skips).
        depths: Swin blocks per up-stage, deep to shallow.
        num_heads: Attention heads per up-stage, deep to shallow.
        window_size: Swin window size.
        mlp_ratio: FFN width ratio of the Swin blocks.
        recon_channels: Channels of the reconstruction convs.
        out_channels: Image channels.
        bottleneck_norm_cfg: Norm of the bottleneck conv.
        bottleneck_layout: ``'transpose'`` or ``'view'`` (released), see
            above.
        output_offset: Constant added to each output channel (the release
            adds SwinIR's RGB mean ``(0.4488, 0.4371, 0.4040)``, although its
            target is the mean/std-normalised image); None adds nothing.
        drop_path_rate: Stochastic depth of the Swin blocks.
        init_cfg: Initialisation config.
    """

    def __init__(self,
                 in_channels: Sequence[int] = (96, 96, 192, 384, 768),
                 upscale: int = 2,
                 patch_size: int = 4,
                 depths: Sequence[int] = (2, 6, 2, 2),
                 num_heads: Sequence[int] = (6, 12, 6, 3),
                 window_size: int = 8,
                 mlp_ratio: float = 2.,
                 recon_channels: int = 32,
                 out_channels: int = 3,
                 bottleneck_norm_cfg: dict = dict(type='GN', num_groups=32),
                 bottleneck_layout: str = 'transpose',
                 output_offset: Optional[Sequence[float]] = None,
                 drop_path_rate: float = 0.,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if bottleneck_layout not in ('transpose', 'view'):
            raise ValueError("bottleneck_layout must be 'transpose' or "
                             f"'view', got {bottleneck_layout!r}")
        if output_offset is not None and len(output_offset) != out_channels:
            raise ValueError(f'output_offset needs {out_channels} values, '
                             f'got {tuple(output_offset)}')
        self.bottleneck_layout = bottleneck_layout
        self.register_buffer(
            'output_offset',
            None if output_offset is None else torch.tensor(
                [float(v) for v in output_offset]).view(1, -1, 1, 1),
            persistent=False)
        stage_channels = list(in_channels[1:])[::-1]  # deep to shallow
        if not len(stage_channels) == len(depths) == len(num_heads):
            raise ValueError(
                f'SwinSRDecoder: {len(in_channels) - 1} encoder stages '
                f'(in_channels={tuple(in_channels)}) need as many depths '
                f'and num_heads, got depths={tuple(depths)}, '
                f'num_heads={tuple(num_heads)}')
        if in_channels[0] != in_channels[1]:
            raise ValueError('SwinSRDecoder: the patch-embedding skip and the '
                             'first stage must have the same channels, got '
                             f'{in_channels[0]} and {in_channels[1]}')
        if int(upscale) != upscale or upscale < 1:
            raise ValueError(f'upscale must be a positive integer, got '
                             f'{upscale}')
        self.upscale = int(upscale)
        deepest = stage_channels[0]
        self.bottleneck = ConvModule(
            deepest,
            2 * deepest,
            3,
            stride=2,
            padding=1,
            norm_cfg=bottleneck_norm_cfg,
            act_cfg=None)
        self.expands = nn.ModuleList()
        self.stages = nn.ModuleList()
        previous = 2 * deepest
        dpr = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        for i, (channels, depth,
                heads) in enumerate(zip(stage_channels, depths, num_heads)):
            self.expands.append(_PatchExpand(previous, channels))
            self.stages.append(
                SwinBlockSequence(
                    embed_dims=channels,
                    num_heads=heads,
                    feedforward_channels=int(mlp_ratio * channels),
                    depth=depth,
                    window_size=window_size,
                    drop_path_rate=dpr[sum(depths[:i]):sum(depths[:i + 1])],
                    downsample=None))
            previous = channels
        self.norm = nn.LayerNorm(previous)
        self.patch_unembed = nn.ConvTranspose2d(
            previous,
            recon_channels,
            kernel_size=patch_size,
            stride=patch_size)
        hidden = recon_channels // 2
        self.reconstruction = nn.Sequential(
            nn.Conv2d(recon_channels, recon_channels, 3, padding=1),
            nn.Conv2d(recon_channels, hidden, 3, padding=1),
            nn.LeakyReLU(inplace=True),
            nn.Conv2d(hidden, hidden * self.upscale**2, 3, padding=1),
            nn.PixelShuffle(self.upscale),
            nn.Conv2d(hidden, out_channels, 3, padding=1))

    def forward(self, skips: Sequence[Tensor], out_size: Tuple[int,
                                                               int]) -> Tensor:
        """Reconstruct the HR image.

        Args:
            skips: ``1 + num_stages`` maps from
                :meth:`SwinTransformerSR.forward_with_skips`.
            out_size: ``(H, W)`` of the output (the HR batch size).

        Returns:
            Tensor: ``(B, out_channels, H, W)`` SR image (in the normalised
            space of the encoder input).
        """
        x = self.bottleneck(skips[-1])
        if self.bottleneck_layout == 'view':
            b, c, h, w = x.shape
            x = x.reshape(b, h, w, c).permute(0, 3, 1, 2)
        for expand, stage, skip in zip(self.expands, self.stages,
                                       skips[:0:-1]):
            x = expand(x)
            x = x + _resize_to(skip, x)
            hw_shape = x.shape[-2:]
            tokens = x.flatten(2).transpose(1, 2)
            tokens = stage(tokens, hw_shape)[0]
            x = _tokens_to_map(tokens, hw_shape)
        x = x + _resize_to(skips[0], x)
        x = self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        x = self.reconstruction(self.patch_unembed(x))
        if self.output_offset is not None:
            x = x + self.output_offset.to(x.dtype)
        if tuple(x.shape[-2:]) != tuple(out_size):
            x = F.interpolate(
                x, size=tuple(out_size), mode='bilinear', align_corners=False)
        return x
