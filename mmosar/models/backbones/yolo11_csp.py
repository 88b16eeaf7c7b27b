"""YOLO11 CSP backbone (single stream) and its stage builder.

The backbone of the YOLO11 family, before width/depth scaling (``c`` =
channels, ``n`` = repeats, every conv is 3x3 stride 2)::

    P3 stage: Conv(64) -> Conv(128) -> C3k2(256, n=2, e=0.25)
              -> Conv(256) -> C3k2(512, n=2, e=0.25)                 stride 8
    P4 stage: Conv(512) -> C3k2(512, n=2, c3k)                      stride 16
    P5 stage: Conv(1024) -> C3k2(1024, n=2, c3k) -> SPPF(1024)      stride 32
    then C2PSA(1024, n=2) on P5

At scale ``s`` (deepen 0.5, widen 0.5) the outputs are P3 256 x H/8,
P4 256 x H/16 and P5 512 x H/32 channels. :func:`build_yolo11_stages` builds
the three stages without C2PSA; the two-stream backbone of E2E-OSDet uses it
for each modality and applies C2PSA after fusion.
"""
from typing import Dict, Optional, Sequence, Tuple

from torch import Tensor, nn

from mmosar.registry import MODELS

from ..layers.yolo_blocks import (
    C2PSA,
    SPPF,
    C3k2,
    YOLOInitModule,
    get_arch_setting,
    scale_channels,
    scale_depth,
    yolo_conv,
)


def yolo11_channels(arch: str,
                    widen_factor: Optional[float] = None) -> Dict[str, int]:
    """Real channel counts of the YOLO11 backbone/neck layers at ``arch``.

    Keys: ``stem1, stem2, c2, p3_down, p3, p4, p5`` (backbone) and
    ``neck_p4, neck_p3, neck_down3, neck_out4, neck_down4, neck_out5``.
    """
    _, widen, max_channels, _ = get_arch_setting(arch)
    widen = widen if widen_factor is None else widen_factor
    base = dict(
        stem1=64, stem2=128, c2=256, p3_down=256, p3=512, p4=512, p5=1024,
        neck_p4=512, neck_p3=256, neck_down3=256, neck_out4=512,
        neck_down4=512, neck_out5=1024)
    return {k: scale_channels(v, widen, max_channels) for k, v in base.items()}


def build_yolo11_stages(in_channels: int,
                        arch: str = 's',
                        deepen_factor: Optional[float] = None,
                        widen_factor: Optional[float] = None,
                        norm_cfg: Optional[dict] = None,
                        act_cfg: Optional[dict] = None,
                        with_sppf: bool = True) -> nn.ModuleList:
    """The P3, P4 and P5 stages of the YOLO11 backbone (no C2PSA).

    Args:
        in_channels (int): image channels of the stream.
        arch (str): ``'n'``, ``'s'``, ``'m'``, ``'l'`` or ``'x'``.
        deepen_factor, widen_factor (float, optional): override the scale.
        norm_cfg, act_cfg (dict, optional): default YOLO BN / SiLU.
        with_sppf (bool): end the P5 stage with SPPF (the M4-SAR CSSA
            baseline applies SPPF after fusion instead).

    Returns:
        nn.ModuleList: three ``nn.Sequential`` stages mapping
        ``(B, in, H, W)`` to P3 ``(B, c3, H/8, W/8)``, then P4
        ``(B, c4, H/16, W/16)`` and P5 ``(B, c5, H/32, W/32)``.
    """
    deepen, _, _, c3k_everywhere = get_arch_setting(arch)
    deepen = deepen if deepen_factor is None else deepen_factor
    ch = yolo11_channels(arch, widen_factor)
    repeats = scale_depth(2, deepen)
    cfgs = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)

    def down(cin, cout):
        return yolo_conv(cin, cout, 3, 2, **cfgs)

    p3 = nn.Sequential(
        down(in_channels, ch['stem1']),
        down(ch['stem1'], ch['stem2']),
        C3k2(ch['stem2'], ch['c2'], repeats, c3k_everywhere, 0.25, **cfgs),
        down(ch['c2'], ch['p3_down']),
        C3k2(ch['p3_down'], ch['p3'], repeats, c3k_everywhere, 0.25, **cfgs))
    p4 = nn.Sequential(
        down(ch['p3'], ch['p4']),
        C3k2(ch['p4'], ch['p4'], repeats, True, **cfgs))
    p5 = nn.Sequential(
        down(ch['p4'], ch['p5']),
        C3k2(ch['p5'], ch['p5'], repeats, True, **cfgs))
    if with_sppf:
        p5.append(SPPF(ch['p5'], ch['p5'], 5, **cfgs))
    return nn.ModuleList([p3, p4, p5])


def build_c2psa(arch: str = 's',
                deepen_factor: Optional[float] = None,
                widen_factor: Optional[float] = None,
                norm_cfg: Optional[dict] = None,
                act_cfg: Optional[dict] = None) -> C2PSA:
    """YOLO11's C2PSA on the P5 map (``n = 2`` before depth scaling)."""
    deepen = get_arch_setting(arch)[0]
    deepen = deepen if deepen_factor is None else deepen_factor
    channels = yolo11_channels(arch, widen_factor)['p5']
    return C2PSA(channels, channels, scale_depth(2, deepen),
                 norm_cfg=norm_cfg, act_cfg=act_cfg)


@MODELS.register_module()
class YOLO11CSPBackbone(YOLOInitModule):
    """Single-stream YOLO11 backbone (optical-only / SAR-only baselines).

    Args:
        arch (str): scale ``'n' | 's' | 'm' | 'l' | 'x'``.
        in_channels (int): channels of the stream.
        modality (str, optional): with ``modality_channels``, take only this
            modality's channels from a stacked paired input (e.g. the SAR
            band of a ``(B, 3 + 1, H, W)`` optical+SAR batch).
        modality_channels (dict, optional): channels per modality in stacking
            order, e.g. ``dict(optical=3, sar=1)``.
        out_indices (Sequence[int]): which of P3, P4, P5 (0, 1, 2) to return.
        deepen_factor, widen_factor (float, optional): override the scale.
        norm_cfg, act_cfg (dict, optional): default YOLO BN / SiLU.
        init_cfg (dict, optional): mmengine init config.

    Shapes:
        ``(B, C, H, W) -> (P3 (B, c3, H/8, W/8), P4 (.., H/16, ..),
        P5 (.., H/32, ..))``; channels ``(256, 256, 512)`` at scale s.
    """

    def __init__(self,
                 arch: str = 's',
                 in_channels: int = 3,
                 modality: Optional[str] = None,
                 modality_channels: Optional[Dict[str, int]] = None,
                 out_indices: Sequence[int] = (0, 1, 2),
                 deepen_factor: Optional[float] = None,
                 widen_factor: Optional[float] = None,
                 norm_cfg: Optional[dict] = None,
                 act_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.channel_slice = None
        if modality is not None:
            if not modality_channels or modality not in modality_channels:
                raise ValueError(f'modality {modality!r} is not in '
                                 f'modality_channels={modality_channels}')
            start = 0
            for name, num in modality_channels.items():
                if name == modality:
                    self.channel_slice = (start, start + num)
                    break
                start += num
            in_channels = modality_channels[modality]
        if any(i not in (0, 1, 2) for i in out_indices):
            raise ValueError(f'out_indices must be in (0, 1, 2), got '
                             f'{out_indices}')
        self.in_channels = in_channels
        self.out_indices = tuple(out_indices)
        self.stages = build_yolo11_stages(in_channels, arch, deepen_factor,
                                          widen_factor, norm_cfg, act_cfg)
        self.c2psa = build_c2psa(arch, deepen_factor, widen_factor,
                                 norm_cfg, act_cfg)
        ch = yolo11_channels(arch, widen_factor)
        self.out_channels = tuple(
            (ch['p3'], ch['p4'], ch['p5'])[i] for i in self.out_indices)

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        if self.channel_slice is not None:
            x = x[:, self.channel_slice[0]:self.channel_slice[1]]
        if x.shape[1] != self.in_channels:
            raise ValueError(f'{type(self).__name__} expects '
                             f'{self.in_channels} input channels, got '
                             f'{x.shape[1]}')
        outs = []
        for stage in self.stages:
            x = stage(x)
            outs.append(x)
        outs[2] = self.c2psa(outs[2])
        return tuple(outs[i] for i in self.out_indices)
