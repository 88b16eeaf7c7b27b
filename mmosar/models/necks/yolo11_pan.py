"""YOLO11 path-aggregation neck (top-down FPN + bottom-up PAN)."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from mmosar.registry import MODELS

from ..backbones.yolo11_csp import yolo11_channels
from ..layers.yolo_blocks import (
    C3k2,
    YOLOInitModule,
    get_arch_setting,
    scale_depth,
    yolo_conv,
)


@MODELS.register_module()
class YOLO11PAFPN(YOLOInitModule):
    """YOLO11's PAN neck.

    With inputs P3, P4, P5 (strides 8, 16, 32)::

        t4   = C3k2(cat(up2(P5), P4))              -> neck_p4 channels
        out3 = C3k2(cat(up2(t4), P3))              -> neck_p3 (P3 output)
        out4 = C3k2(cat(Conv3x3s2(out3), t4))      -> neck_out4 (P4 output)
        out5 = C3k2_c3k(cat(Conv3x3s2(out4), P5))  -> neck_out5 (P5 output)

    Upsampling is nearest x2. At scale s the outputs have 128, 256 and 512
    channels (E2E-OSDet layers 36-47).

    Args:
        in_channels (Sequence[int]): channels of P3, P4, P5 (e.g.
            ``(256, 256, 512)`` at scale s).
        arch (str): YOLO11 scale ``'n' | 's' | 'm' | 'l' | 'x'``.
        deepen_factor, widen_factor (float, optional): override the scale.
        norm_cfg, act_cfg (dict, optional): default YOLO BN / SiLU.
        init_cfg (dict, optional): mmengine init config.

    Shapes:
        inputs ``(B, c_i, H_i, W_i)`` with ``H_3 = 2 H_4 = 4 H_5`` (same for
        W); outputs keep the input sizes.
    """

    def __init__(self,
                 in_channels: Sequence[int] = (256, 256, 512),
                 arch: str = 's',
                 deepen_factor: Optional[float] = None,
                 widen_factor: Optional[float] = None,
                 norm_cfg: Optional[dict] = None,
                 act_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if len(in_channels) != 3:
            raise ValueError('YOLO11PAFPN takes P3, P4, P5: in_channels must '
                             f'have 3 entries, got {in_channels}')
        deepen, _, _, c3k_everywhere = get_arch_setting(arch)
        deepen = deepen if deepen_factor is None else deepen_factor
        ch = yolo11_channels(arch, widen_factor)
        n = scale_depth(2, deepen)
        c3, c4, c5 = in_channels
        cfgs = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.in_channels = tuple(in_channels)
        self.top_down_p4 = C3k2(c5 + c4, ch['neck_p4'], n, c3k_everywhere,
                                **cfgs)
        self.top_down_p3 = C3k2(ch['neck_p4'] + c3, ch['neck_p3'], n,
                                c3k_everywhere, **cfgs)
        self.downsample_p3 = yolo_conv(ch['neck_p3'], ch['neck_down3'], 3, 2,
                                       **cfgs)
        self.bottom_up_p4 = C3k2(ch['neck_down3'] + ch['neck_p4'],
                                 ch['neck_out4'], n, c3k_everywhere, **cfgs)
        self.downsample_p4 = yolo_conv(ch['neck_out4'], ch['neck_down4'], 3,
                                       2, **cfgs)
        self.bottom_up_p5 = C3k2(ch['neck_down4'] + c5, ch['neck_out5'], n,
                                 True, **cfgs)
        self.out_channels = (ch['neck_p3'], ch['neck_out4'],
                             ch['neck_out5'])

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        if len(inputs) != 3:
            raise ValueError(f'YOLO11PAFPN expects 3 feature maps, got '
                             f'{len(inputs)}')
        p3, p4, p5 = inputs
        t4 = self.top_down_p4(
            torch.cat([F.interpolate(p5, size=p4.shape[-2:]), p4], dim=1))
        out3 = self.top_down_p3(
            torch.cat([F.interpolate(t4, size=p3.shape[-2:]), p3], dim=1))
        out4 = self.bottom_up_p4(
            torch.cat([self.downsample_p3(out3), t4], dim=1))
        out5 = self.bottom_up_p5(
            torch.cat([self.downsample_p4(out4), p5], dim=1))
        return out3, out4, out5
