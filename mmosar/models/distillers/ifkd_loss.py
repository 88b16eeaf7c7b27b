"""The IFKD distillation terms over the FPN levels (paper eqs. 12-14).

:class:`IFKDDistillLoss` holds IFKD's learnable parts (the student adapter,
the EDE generator, the FDR filter) and computes, from teacher and student
FPN features and class logits, ``alpha * L_feat`` and ``beta * L_head``.
:class:`~.ifkd_distiller.IFKDDistiller` runs the detectors and calls it; the
equivalence check (``mmosar/testing/equivalence/ifkd.py``) calls it directly
on the fixture's pyramids.
"""
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmosar.registry import MODELS

ADAPTERS = ('shared', 'per_level')
FEAT_NORMS = ('mask_sum', 'mask_sum_channel_mean')
HSM_INPUTS = ('raw', 'reconstructed')


@MODELS.register_module()
class IFKDDistillLoss(BaseModule):
    """IFKD feature and head distillation over ``num_levels`` FPN levels.

    Per level ``l`` with teacher feature ``T`` ``(B, C_t, H, W)``, student
    feature ``S`` ``(B, C_s, H, W)``, class logits ``t``, ``s`` ``(B, K, H,
    W)`` and the adapter ``A`` (Conv3x3 ``C_s -> C_t``):

    * ``T' = EDE(T, M_ext)`` if ``l`` is in ``ede_levels``, else ``T``;
      ``S' = A(S)``;
    * ``T~ = FDR(T', M_FRS)``, ``S~ = FDR(S', M_FRS)`` if ``l`` is in
      ``fdr_levels``, else ``T~ = T'``, ``S~ = S'``; ``M_FRS(b, h, w) =
      max_k sigmoid(t)`` (FRS's richness score);
    * ``M = HSM(T, S')`` (``hsm_input='raw'``, released code) or
      ``HSM(T~, S~)`` (``'reconstructed'``: EDE -> FDR -> HSM, the order of
      the paper's Fig. 2), detached; ``M = 1`` without HSM;
    * ``L_feat^l = sum_{b,c,h,w} M (T~ - S~)^2 / (n sum_{b,h,w} M)`` with
      ``n = C_t`` (``feat_norm='mask_sum_channel_mean'``, the paper's
      ``1/C``) or ``n = 1`` (``'mask_sum'``, released code);
    * ``L_head^l = sum_{b,h,w} M sum_k BCE(sigmoid(s), sigmoid(t)) /
      sum M``, teacher probabilities detached.

    ``loss`` returns ``alpha * sum_l L_feat^l`` and ``beta * sum_l
    L_head^l``. The released split is ``fdr_levels=(0, 1)``,
    ``ede_levels=(2, 3, 4)``; the paper's eq. 12 applies EDE and FDR on
    every level. Modules are switched off by empty level lists and
    ``use_hsm=False`` (paper Table 4 ablations).

    Args:
        alpha: Weight of ``L_feat`` (paper 0.06, released code 1e-4).
        beta: Weight of ``L_head`` (paper 0.5, released code 1e-3).
        num_levels: Distilled FPN levels (from the first).
        student_channels: Student FPN channels ``C_s``.
        teacher_channels: Teacher FPN channels ``C_t``.
        adapter: ``'shared'`` (one conv for every level, released) or
            ``'per_level'``.
        fdr_levels: Levels with FDR.
        ede_levels: Levels with EDE.
        fdr: :class:`~.fdr.FrequencyDomainReconstruction` config.
        ede: :class:`~.ede.ExternalDisturbanceEnhancement` config.
        use_hsm: Weight locations by HSM (else ``M = 1``).
        hsm: :class:`~.hsm.HyperbolicSimilarityMask` config.
        hsm_input: ``'raw'`` or ``'reconstructed'`` (see above).
        feat_norm: ``'mask_sum_channel_mean'`` or ``'mask_sum'``.
        init_cfg: Initialisation config.
    """

    def __init__(self,
                 alpha: float = 0.06,
                 beta: float = 0.5,
                 num_levels: int = 5,
                 student_channels: int = 256,
                 teacher_channels: int = 256,
                 adapter: str = 'shared',
                 fdr_levels: Sequence[int] = (0, 1),
                 ede_levels: Sequence[int] = (2, 3, 4),
                 fdr: Optional[dict] = None,
                 ede: Optional[dict] = None,
                 use_hsm: bool = True,
                 hsm: Optional[dict] = None,
                 hsm_input: str = 'raw',
                 feat_norm: str = 'mask_sum_channel_mean',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        for name, value, allowed in (('adapter', adapter, ADAPTERS),
                                     ('feat_norm', feat_norm, FEAT_NORMS),
                                     ('hsm_input', hsm_input, HSM_INPUTS)):
            if value not in allowed:
                raise ValueError(
                    f'{name} must be one of {allowed}, got {value!r}')
        bad = sorted(
            lvl for lvl in (*fdr_levels, *ede_levels)
            if not 0 <= lvl < num_levels)
        if bad:
            raise ValueError(f'FDR/EDE levels {bad} are not in '
                             f'0..{num_levels - 1} (num_levels)')
        self.alpha = alpha
        self.beta = beta
        self.num_levels = num_levels
        self.fdr_levels = tuple(fdr_levels)
        self.ede_levels = tuple(ede_levels)
        self.hsm_input = hsm_input
        self.feat_norm = feat_norm
        self.adapter_mode = adapter
        self.adapters = nn.ModuleList(
            nn.Conv2d(student_channels, teacher_channels, 3, padding=1)
            for _ in range(1 if adapter == 'shared' else num_levels))
        self.fdr = MODELS.build(
            dict(type='FrequencyDomainReconstruction', **(fdr or {}),
                 channels=teacher_channels)) if self.fdr_levels else None
        self.ede = MODELS.build(
            dict(type='ExternalDisturbanceEnhancement', **(ede or {}),
                 channels=teacher_channels)) if self.ede_levels else None
        self.hsm = MODELS.build(
            dict(type='HyperbolicSimilarityMask', **
                 (hsm or {}))) if use_hsm else None

    @property
    def needs_ede_mask(self) -> bool:
        """Whether some level uses EDE (and so the external mask)."""
        return bool(self.ede_levels)

    def adapt(self, feat: Tensor, level: int) -> Tensor:
        """Adapter ``phi_adapt``: student -> teacher channels."""
        index = 0 if self.adapter_mode == 'shared' else level
        return self.adapters[index](feat)

    def level_terms(
        self,
        level: int,
        teacher: Tensor,
        teacher_logits: Tensor,
        student: Tensor,
        student_logits: Tensor,
        ede_mask: Optional[Tensor] = None,
        fdr_edit: Tuple[Optional[bool], Optional[bool]] = (None, None)
    ) -> Dict[str, Tensor]:
        """Unweighted terms of one level and their intermediates.

        Args:
            level: FPN level index.
            teacher: Teacher feature ``(B, C_t, H, W)``.
            teacher_logits: Teacher class logits ``(B, K, H, W)``.
            student: Student feature ``(B, C_s, H, W)``.
            student_logits: Student class logits ``(B, K, H, W)``.
            ede_mask: External foreground probability ``(B, 1, h, w)`` or
                None (``M_ext = 1``).
            fdr_edit: Force (True / False) or draw (None) FDR's spectrum
                edit for the teacher and the student call.

        Returns:
            dict with ``feat`` and ``head`` (scalars), ``hsm`` and ``frs``
            ``(B, H, W)``, ``adapted`` ``A(S)``, and ``teacher`` /
            ``student``, the compared ``T~`` and ``S~``.
        """
        t = teacher.detach()
        s = self.adapt(student, level)
        t_prob = teacher_logits.detach().sigmoid()
        if t.shape[-2:] != s.shape[-2:] or \
                teacher_logits.shape != student_logits.shape:
            raise ValueError(
                f'level {level}: teacher {tuple(t.shape)} / '
                f'{tuple(teacher_logits.shape)} and student '
                f'{tuple(s.shape)} / {tuple(student_logits.shape)} '
                'feature/logit shapes differ')
        frs = t_prob.amax(dim=1)
        t_rec, s_rec = t, s
        if level in self.ede_levels:
            mask = ede_mask if ede_mask is not None else t.new_ones(
                t.shape[0], 1, 1, 1)
            t_rec = self.ede(t_rec, mask)
        if level in self.fdr_levels:
            t_rec = self.fdr(t_rec, frs, is_teacher=True, edit=fdr_edit[0])
            s_rec = self.fdr(s_rec, frs, edit=fdr_edit[1])
        if self.hsm is None:
            hsm = t.new_ones(frs.shape)
        elif self.hsm_input == 'raw':
            hsm = self.hsm(t, s)
        else:
            hsm = self.hsm(t_rec, s_rec)
        hsm = hsm.detach().to(t_rec.dtype)
        norm = hsm.sum().clamp_min(1e-6)
        sq = ((t_rec - s_rec)**2).sum(dim=1)
        if self.feat_norm == 'mask_sum_channel_mean':
            sq = sq / t.shape[1]
        s_cls = student_logits
        if s_cls.dtype in (torch.float16, torch.bfloat16):
            s_cls = s_cls.float()
        bce = F.binary_cross_entropy_with_logits(
            s_cls, t_prob.to(s_cls.dtype), reduction='none').sum(dim=1)
        return dict(
            feat=(hsm * sq).sum() / norm,
            head=(hsm.to(bce.dtype) * bce).sum() / norm.to(bce.dtype),
            hsm=hsm,
            frs=frs,
            adapted=s,
            teacher=t_rec,
            student=s_rec)

    def forward(self,
                teacher_feats: Sequence[Tensor],
                teacher_logits: Sequence[Tensor],
                student_feats: Sequence[Tensor],
                student_logits: Sequence[Tensor],
                ede_mask: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """Unweighted ``L_feat`` and ``L_head`` summed over the levels.

        Args:
            teacher_feats: Teacher FPN features, each ``(B, C_t, H_l,
                W_l)``.
            teacher_logits: Teacher class logits, each ``(B, K, H_l,
                W_l)``.
            student_feats: Student FPN features, each ``(B, C_s, H_l,
                W_l)``.
            student_logits: Student class logits, each ``(B, K, H_l,
                W_l)``.
            ede_mask: External probability ``(B, 1, h, w)`` or None.

        Returns:
            ``(L_feat, L_head)`` scalars.
        """
        counts = (len(teacher_feats), len(student_feats),
                  len(teacher_logits), len(student_logits))
        if min(counts) < self.num_levels:
            raise ValueError(
                f'IFKD distils {self.num_levels} levels but got '
                f'{counts[0]} teacher / {counts[1]} student features and '
                f'{counts[2]} / {counts[3]} logit levels')
        feat_loss = head_loss = 0
        for level in range(self.num_levels):
            terms = self.level_terms(level, teacher_feats[level],
                                     teacher_logits[level],
                                     student_feats[level],
                                     student_logits[level], ede_mask)
            feat_loss = feat_loss + terms['feat']
            head_loss = head_loss + terms['head']
        return feat_loss, head_loss

    def loss(self, *args, **kwargs) -> Dict[str, Tensor]:
        """``loss_ifkd_feat = alpha L_feat`` and ``loss_ifkd_head = beta
        L_head``; arguments as :meth:`forward`."""
        feat_loss, head_loss = self(*args, **kwargs)
        return dict(
            loss_ifkd_feat=self.alpha * feat_loss,
            loss_ifkd_head=self.beta * head_loss)
