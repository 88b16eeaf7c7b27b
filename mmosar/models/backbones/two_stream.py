"""Two-stream optical-SAR backbone of E2E-OSDet (M4-SAR).

The paired batch is one multi-band tensor, optical bands first (see
``modality_channels``). The backbone:

1. splits it into the optical and the SAR image;
2. FAM (Filter Augment Module) adds a fixed edge map to each image;
3. runs two unshared YOLO11 stems (P3, P4, P5 stages, SPPF at P5);
4. after each of the P3, P4 and P5 stages, CMIM (Cross-modal Mamba
   Interaction Module) updates both streams, and the next stage of each
   stream continues from its updated map;
5. fuses each level into one map with AFM (Area-attention Fusion Module);
6. applies YOLO11's C2PSA to the fused P5.

Every step is switchable by one config key (``use_fam``, ``use_cmim``,
``use_afm`` with ``fallback_fusion`` = ``'add'`` or ``'concat'``), so the
ablations are one-key config inheritance.
"""
import copy
from typing import Dict, Optional, Sequence, Tuple

from torch import Tensor, nn

from mmosar.registry import MODELS

from ..layers.afm import AFM
from ..layers.cmim import CMIM
from ..layers.fam import FAM
from ..layers.simple_fusion import AddFusion, ConcatConvFusion
from ..layers.yolo_blocks import YOLOInitModule
from .yolo11_csp import build_c2psa, build_yolo11_stages, yolo11_channels

FALLBACK_FUSIONS = dict(add=AddFusion, concat=ConcatConvFusion)


def split_modalities(x: Tensor, modality_channels: Dict[str, int],
                     owner: str) -> Tuple[Tensor, Tensor]:
    """Split a stacked paired batch into its two modalities.

    Args:
        x: ``(B, sum C_m, H, W)``, bands stacked in ``modality_channels``
            order.
        modality_channels: bands per modality, e.g. ``dict(optical=3,
            sar=3)``.
        owner: the module's name, for the error.

    Returns:
        tuple: the first and the second modality, ``(B, C_m, H, W)`` each.
    """
    expected = sum(modality_channels.values())
    if x.dim() != 4 or x.shape[1] != expected:
        raise ValueError(
            f'{owner} expects (B, {expected}, H, W) inputs '
            f'(modality_channels={modality_channels}), got '
            f'{tuple(x.shape)}')
    first, second = x.split(list(modality_channels.values()), dim=1)
    return first, second


@MODELS.register_module()
class TwoStreamBackbone(YOLOInitModule):
    """E2E-OSDet backbone: FAM, two YOLO11 stems, CMIM and AFM.

    Args:
        arch (str): YOLO11 scale ``'n' | 's' | 'm' | 'l' | 'x'`` (paper: s).
        modality_channels (dict): channels per modality in stacking order,
            exactly two entries, optical first, e.g. ``dict(optical=3,
            sar=1)``.
        use_fam (bool): apply FAM to each image.
        fam_cfg (dict, optional): per-modality FAM overrides, keyed by the
            modality names, merged over the defaults (first modality
            ``mode='per_channel'``, second ``mode='single_band'`` on its last
            band). Set ``data_mean``/``data_std`` here when the data
            preprocessor normalises with mean/std (see :class:`FAM`).
        use_cmim (bool): apply CMIM after the P3, P4 and P5 stages.
        cmim_d_states (Sequence[int]): SSM state size of CMIM per level.
        cmim_cfg (dict, optional): extra :class:`CMIM` arguments.
        use_afm (bool): fuse each level with AFM; otherwise with
            ``fallback_fusion``.
        afm_cfg (dict, optional): extra :class:`AFM` arguments.
        fallback_fusion (str): ``'add'`` (sum) or ``'concat'`` (concat +
            1x1 conv) when ``use_afm=False``.
        use_c2psa (bool): apply C2PSA to the fused P5.
        deepen_factor, widen_factor (float, optional): override the scale.
        norm_cfg, act_cfg (dict, optional): YOLO BN / SiLU by default.
        init_cfg (dict, optional): mmengine init config.

    Shapes:
        ``(B, sum(modality_channels), H, W)`` -> fused P3
        ``(B, c3, H/8, W/8)``, P4 ``(B, c4, H/16, W/16)`` and P5
        ``(B, c5, H/32, W/32)``; ``(256, 256, 512)`` channels at scale s.
        ``out_channels`` holds the channel numbers.
    """

    def __init__(self,
                 arch: str = 's',
                 modality_channels: Optional[Dict[str, int]] = None,
                 use_fam: bool = True,
                 fam_cfg: Optional[Dict[str, dict]] = None,
                 use_cmim: bool = True,
                 cmim_d_states: Sequence[int] = (16, 16, 32),
                 cmim_cfg: Optional[dict] = None,
                 use_afm: bool = True,
                 afm_cfg: Optional[dict] = None,
                 fallback_fusion: str = 'add',
                 use_c2psa: bool = True,
                 deepen_factor: Optional[float] = None,
                 widen_factor: Optional[float] = None,
                 norm_cfg: Optional[dict] = None,
                 act_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        modality_channels = dict(modality_channels or dict(optical=3, sar=1))
        if len(modality_channels) != 2:
            raise ValueError('TwoStreamBackbone needs exactly two modalities '
                             f'in modality_channels, got {modality_channels}')
        if len(cmim_d_states) != 3:
            raise ValueError('cmim_d_states needs one state size per level '
                             f'(P3, P4, P5), got {cmim_d_states}')
        if not use_afm and fallback_fusion not in FALLBACK_FUSIONS:
            raise ValueError(f'fallback_fusion must be one of '
                             f'{sorted(FALLBACK_FUSIONS)}, got '
                             f'{fallback_fusion!r}')
        self.modality_channels = modality_channels
        self.modalities = tuple(modality_channels)
        self.use_fam = use_fam
        self.use_cmim = use_cmim
        self.use_afm = use_afm
        self.use_c2psa = use_c2psa

        if use_fam:
            self.fams = nn.ModuleDict(
                self._build_fams(fam_cfg or {}))
        self.streams = nn.ModuleDict({
            m: build_yolo11_stages(c, arch, deepen_factor, widen_factor,
                                   norm_cfg, act_cfg)
            for m, c in modality_channels.items()
        })
        ch = yolo11_channels(arch, widen_factor)
        self.out_channels = (ch['p3'], ch['p4'], ch['p5'])
        if use_cmim:
            self.cmims = nn.ModuleList([
                CMIM(c, d_state=n, **(cmim_cfg or {}))
                for c, n in zip(self.out_channels, cmim_d_states)
            ])
        if use_afm:
            self.fusions = nn.ModuleList([
                AFM(c, norm_cfg=norm_cfg, **(afm_cfg or {}))
                for c in self.out_channels
            ])
        else:
            self.fusions = nn.ModuleList([
                FALLBACK_FUSIONS[fallback_fusion](c)
                for c in self.out_channels
            ])
        if use_c2psa:
            self.c2psa = build_c2psa(arch, deepen_factor, widen_factor,
                                     norm_cfg, act_cfg)

    def _build_fams(self, fam_cfg: Dict[str, dict]) -> Dict[str, FAM]:
        unknown = set(fam_cfg) - set(self.modalities)
        if unknown:
            raise ValueError(f'fam_cfg has unknown modalities {unknown}; '
                             f'expected keys among {self.modalities}')
        defaults = (dict(mode='per_channel'),
                    dict(mode='single_band', band_index=-1))
        fams = {}
        for modality, default in zip(self.modalities, defaults):
            cfg = copy.deepcopy(default)
            cfg.update(fam_cfg.get(modality, {}))
            fams[modality] = FAM(**cfg)
        return fams

    def split_modalities(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """``(B, sum C_m, H, W)`` -> (optical, SAR) images."""
        return split_modalities(x, self.modality_channels, type(self).__name__)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        feats = dict(zip(self.modalities, self.split_modalities(x)))
        if self.use_fam:
            feats = {m: self.fams[m](f) for m, f in feats.items()}
        first, second = self.modalities
        fused = []
        for level in range(3):
            feats = {m: self.streams[m][level](f) for m, f in feats.items()}
            if self.use_cmim:
                updated = self.cmims[level](feats[first], feats[second])
                feats = dict(zip(self.modalities, updated))
            fused.append(self.fusions[level](feats[first], feats[second]))
        if self.use_c2psa:
            fused[2] = self.c2psa(fused[2])
        return tuple(fused)
