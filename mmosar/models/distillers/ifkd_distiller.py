"""IFKD: Information Fusion with Knowledge Distillation (ACM MM 2024).

:class:`IFKDDistiller` wraps an mmdet student detector (single-stage, e.g.
RetinaNet, or two-stage, e.g. Faster R-CNN) and a frozen teacher of the same
framework. Training adds to the student's own losses

``alpha * L_feat + beta * L_head``

over the FPN levels, where per level ``l`` (``T``: teacher feature, ``S``:
student feature, ``A``: adapter conv, ``M``: HSM mask):

* ``L_feat = sum_{b,c,h,w} M (T~ - S~)^2 / (C sum M)`` with ``T~ = FDR(T)``,
  ``S~ = FDR(A(S))`` on the FDR levels, ``T~ = EDE(T)``, ``S~ = A(S)`` on
  the EDE levels, and plain ``T``, ``A(S)`` elsewhere;
* ``L_head = sum_{b,h,w} M sum_c BCE(sigmoid(s), sigmoid(t)) / sum M`` on
  the classification logits of the distilled head (RetinaNet: ``bbox_head``
  class scores; Faster R-CNN: ``rpn_head`` objectness).

The teacher (and the external EDE model) are held outside the module tree:
they are not in ``parameters()``/``state_dict()``, so they are neither
optimised nor saved; ``to()``/``cuda()`` still move them and ``train()``
keeps them in eval mode. ``predict``/``tensor`` modes run the student only.
"""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmdet.models.dense_heads import RetinaHead, RPNHead
from mmengine.config import Config, ConfigDict
from mmengine.model import BaseModel
from mmengine.runner import load_checkpoint
from torch import Tensor, nn

from mmosar.registry import MODELS

ADAPTERS = ('shared', 'per_level')
FEAT_NORMS = ('mask_sum', 'mask_sum_channel_mean')
MASK_SOURCES = ('cache', 'external', 'none')


def model_config(cfg: Union[str, dict, Config], role: str) -> ConfigDict:
    """A model config given directly or as a config file (its ``model``).

    Relative file paths are relative to the working directory (run tools
    from the repository root).
    """
    if isinstance(cfg, str):
        if not osp.isfile(cfg):
            raise FileNotFoundError(
                f'{role} config {cfg!r} does not exist (relative to '
                f'{osp.abspath(".")}; run from the repository root)')
        return Config.fromfile(cfg)['model']
    if cfg is None:
        raise ValueError(f'IFKDDistiller needs a {role} config')
    # mmdet detectors read nested settings as attributes (train_cfg.rpn)
    return ConfigDict(cfg)


def build_frozen_model(cfg: Union[str, dict, Config],
                       checkpoint: Optional[str] = None,
                       role: str = 'teacher') -> nn.Module:
    """Build a model from a config (file or ``model`` dict), load it, freeze.

    Args:
        cfg: Path of a full config file (its ``model`` is used) or a model
            config dict.
        checkpoint: Optional weights file (plain or mmengine checkpoint).
        role: Name used in error messages.

    Returns:
        The model in eval mode with ``requires_grad=False``.
    """
    model = MODELS.build(model_config(cfg, role))
    if checkpoint is not None:
        if not osp.isfile(checkpoint):
            raise FileNotFoundError(
                f'{role} checkpoint {checkpoint!r} does not exist')
        load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
    model.eval()
    for param in model.parameters():
        param.requires_grad_(False)
    return model


def head_class_logits(head: nn.Module,
                      feats: Sequence[Tensor]) -> List[Tensor]:
    """Class logits of a dense head, per level.

    For mmdet's ``RetinaHead`` and ``RPNHead`` (exact types) only the
    classification branch runs (the teacher's regression branch would be
    wasted work); other heads run their full forward (first output).
    """
    if type(head) is RetinaHead:
        logits = []
        for feat in feats:
            for conv in head.cls_convs:
                feat = conv(feat)
            logits.append(head.retina_cls(feat))
        return logits
    if type(head) is RPNHead:
        return [head.rpn_cls(F.relu(head.rpn_conv(f))) for f in feats]
    return list(head(feats)[0])


def pad_cached_masks(data_samples: Sequence, batch_shape: Tuple[int, int],
                     device: torch.device) -> Tensor:
    """Batch the cached EDE masks carried as ``gt_sem_seg`` (uint8 0-255).

    Masks go to the top-left corner of a zero canvas of the padded batch
    shape, as the images do.

    Returns:
        Probabilities ``(B, 1, H, W)`` in [0, 1].
    """
    out = torch.zeros(len(data_samples), 1, *batch_shape, device=device)
    for i, sample in enumerate(data_samples):
        if 'gt_sem_seg' not in sample:
            raise KeyError(
                f"EDE mask source 'cache': sample {sample.get('img_path')} "
                'has no gt_sem_seg; build the dataset with ede_mask_dir '
                '(masks from tools/ifkd/cache_ede_masks.py) and load it '
                'with LoadAnnotations(with_seg=True)')
        mask = sample.gt_sem_seg.sem_seg.to(device).float() / 255.0
        h, w = mask.shape[-2:]
        h, w = min(h, batch_shape[0]), min(w, batch_shape[1])
        out[i, 0, :h, :w] = mask.reshape(-1, *mask.shape[-2:])[0, :h, :w]
    return out


@MODELS.register_module()
class IFKDDistiller(BaseModel):
    """IFKD knowledge distillation of an FPN detector.

    Args:
        student: Student detector: config file path (its ``model``) or
            model config dict (mmdet RetinaNet / FasterRCNN...).
        teacher_config: Teacher config file path or model config dict.
        teacher_ckpt: Teacher weights file (None only for tests / toys).
        alpha: Weight of ``L_feat``. Paper 0.06; released code 1e-4.
        beta: Weight of ``L_head``. Paper 0.5; released code 1e-3.
        num_levels: Number of FPN levels distilled (from the first).
        student_channels: Student FPN channels.
        teacher_channels: Teacher FPN channels.
        adapter: ``'shared'`` (one Conv3x3 for all levels, released code)
            or ``'per_level'``.
        fdr_levels: Levels where FDR is applied (released: 0, 1).
        ede_levels: Levels where EDE is applied (released: 2, 3, 4).
        fdr: :class:`FrequencyDomainReconstruction` config.
        ede: :class:`ExternalDisturbanceEnhancement` config.
        hsm: :class:`HyperbolicSimilarityMask` config.
        ede_mask_source: ``'cache'`` (masks precomputed by
            ``tools/ifkd/cache_ede_masks.py`` arrive as ``gt_sem_seg``),
            ``'external'`` (run ``external_model`` on every batch) or
            ``'none'`` (no mask: EDE levels use ``M = 1``).
        external_model: Frozen external segmentation model config (needed
            for ``ede_mask_source='external'``).
        feat_norm: ``'mask_sum_channel_mean'`` (sum over channels / (C *
            mask sum), paper prose; the scale the paper's alpha = 0.06
            suits) or ``'mask_sum'`` (no 1/C, released code; use with its
            alpha = 1e-4).
        distill_head: Name of the student/teacher head whose class logits
            are distilled; None picks ``rpn_head`` for two-stage detectors
            and ``bbox_head`` otherwise.
        init_cfg: Initialisation config of the distiller's own modules.
    """

    def __init__(self,
                 student: Union[str, dict, Config],
                 teacher_config: Union[str, dict, Config],
                 teacher_ckpt: Optional[str] = None,
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
                 hsm: Optional[dict] = None,
                 ede_mask_source: str = 'cache',
                 external_model: Optional[dict] = None,
                 feat_norm: str = 'mask_sum_channel_mean',
                 distill_head: Optional[str] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        for name, value, allowed in (('adapter', adapter, ADAPTERS),
                                     ('feat_norm', feat_norm, FEAT_NORMS),
                                     ('ede_mask_source', ede_mask_source,
                                      MASK_SOURCES)):
            if value not in allowed:
                raise ValueError(
                    f'{name} must be one of {allowed}, got {value!r}')
        overlap = set(fdr_levels) & set(ede_levels)
        if overlap:
            raise ValueError(f'levels {sorted(overlap)} are both FDR and '
                             'EDE levels')
        if max([*fdr_levels, *ede_levels, -1]) >= num_levels:
            raise ValueError('FDR/EDE levels must be < num_levels '
                             f'({num_levels})')
        if ede_mask_source == 'external' and external_model is None:
            raise ValueError(
                "ede_mask_source='external' needs an external_model config")

        self.student = MODELS.build(model_config(student, 'student'))
        # preprocessing is the student's (teacher and student share inputs)
        self.data_preprocessor = self.student.data_preprocessor
        # Frozen models live outside the module tree: no parameters(),
        # no state_dict(), no optimizer.
        object.__setattr__(self, 'teacher',
                           build_frozen_model(teacher_config, teacher_ckpt))
        object.__setattr__(
            self, 'external_model',
            build_frozen_model(external_model, role='external model')
            if ede_mask_source == 'external' else None)

        self.distill_head = distill_head or (
            'rpn_head' if getattr(self.student, 'with_rpn', False) else
            'bbox_head')
        for model, role in ((self.student, 'student'),
                            (self.teacher, 'teacher')):
            if not hasattr(model, self.distill_head):
                raise AttributeError(
                    f'{role} {type(model).__name__} has no '
                    f'{self.distill_head!r} to distil')

        self.alpha = alpha
        self.beta = beta
        self.num_levels = num_levels
        self.fdr_levels = tuple(fdr_levels)
        self.ede_levels = tuple(ede_levels)
        self.ede_mask_source = ede_mask_source
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
            dict(type='HyperbolicSimilarityMask', **(hsm or {})))

    def _frozen_models(self) -> List[nn.Module]:
        """The teacher and the external EDE model (if any)."""
        return [
            m for m in (self.teacher, self.external_model) if m is not None
        ]

    def _apply(self, fn, *args, **kwargs):
        """Move / cast the frozen models with the distiller."""
        for model in self._frozen_models():
            model._apply(fn, *args, **kwargs)
        return super()._apply(fn, *args, **kwargs)

    def train(self, mode: bool = True) -> 'IFKDDistiller':
        """Set the train mode; the frozen models always stay in eval."""
        super().train(mode)
        for model in self._frozen_models():
            model.train(False)
        return self

    def forward(self,
                inputs: Tensor,
                data_samples: Optional[list] = None,
                mode: str = 'tensor'):
        """``loss``: student + IFKD losses; ``predict``/``tensor``: student."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        return self.student(inputs, data_samples, mode)

    def adapt(self, feat: Tensor, level: int) -> Tensor:
        """Adapter ``phi_adapt``: student -> teacher channels."""
        index = 0 if self.adapter_mode == 'shared' else level
        return self.adapters[index](feat)

    def loss(self, inputs: Tensor, data_samples: list) -> Dict[str, Tensor]:
        """Student losses plus ``loss_ifkd_feat`` and ``loss_ifkd_head``.

        Args:
            inputs: Preprocessed batch ``(B, 3, H, W)``.
            data_samples: Detection data samples.
        """
        with torch.no_grad():
            t_feats = self.teacher.extract_feat(inputs)
            t_logits = head_class_logits(
                getattr(self.teacher, self.distill_head), t_feats)
        losses, s_feats, s_logits = self._student_loss(inputs, data_samples)
        ede_mask = self._ede_mask(inputs, data_samples)
        feat_loss, head_loss = self.distill_losses(t_feats, t_logits,
                                                   s_feats, s_logits,
                                                   ede_mask)
        losses['loss_ifkd_feat'] = self.alpha * feat_loss
        losses['loss_ifkd_head'] = self.beta * head_loss
        return losses

    def _student_loss(self, inputs: Tensor, data_samples: list):
        """Run the student's own ``loss`` while recording its FPN features
        and the distilled head's outputs with forward hooks (each module
        runs once per ``loss``)."""
        record = {}
        feat_module = self.student.neck if self.student.with_neck \
            else self.student.backbone
        hooks = [
            feat_module.register_forward_hook(
                lambda m, i, o: record.setdefault('feats', o)),
            getattr(self.student, self.distill_head).register_forward_hook(
                lambda m, i, o: record.setdefault('head', o))
        ]
        try:
            losses = self.student.loss(inputs, data_samples)
        finally:
            for hook in hooks:
                hook.remove()
        if 'feats' not in record or 'head' not in record:
            raise RuntimeError(
                f'the student {type(self.student).__name__} did not call its '
                f'neck/backbone and {self.distill_head} during loss()')
        return losses, record['feats'], record['head'][0]

    def _ede_mask(self, inputs: Tensor,
                  data_samples: list) -> Optional[Tensor]:
        """EDE foreground probability ``(B, 1, h, w)`` or None."""
        if not self.ede_levels or self.ede_mask_source == 'none':
            return None
        if self.ede_mask_source == 'cache':
            return pad_cached_masks(data_samples, inputs.shape[-2:],
                                    inputs.device)
        with torch.no_grad():
            return self.external_model(inputs).sigmoid()

    def distill_losses(self, t_feats: Sequence[Tensor],
                       t_logits: Sequence[Tensor], s_feats: Sequence[Tensor],
                       s_logits: Sequence[Tensor],
                       ede_mask: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
        """Unweighted ``L_feat`` and ``L_head`` summed over the levels.

        Args:
            t_feats: Teacher FPN features, each ``(B, C_t, H_l, W_l)``.
            t_logits: Teacher class logits, each ``(B, K, H_l, W_l)``.
            s_feats: Student FPN features, each ``(B, C_s, H_l, W_l)``.
            s_logits: Student class logits, each ``(B, K, H_l, W_l)``.
            ede_mask: EDE probability ``(B, 1, h, w)`` or None (``M = 1``).

        Returns:
            ``(L_feat, L_head)`` scalars.
        """
        if min(len(t_feats), len(s_feats), len(t_logits),
               len(s_logits)) < self.num_levels:
            raise ValueError(
                f'IFKD distils {self.num_levels} levels but got '
                f'{len(t_feats)} teacher / {len(s_feats)} student features')
        feat_loss = head_loss = 0
        for level in range(self.num_levels):
            t, s = t_feats[level].detach(), self.adapt(s_feats[level], level)
            t_cls, s_cls = t_logits[level].detach(), s_logits[level]
            if t.shape[-2:] != s.shape[-2:] or t_cls.shape != s_cls.shape:
                raise ValueError(
                    f'level {level}: teacher {tuple(t.shape)} / '
                    f'{tuple(t_cls.shape)} and student {tuple(s.shape)} / '
                    f'{tuple(s_cls.shape)} feature/logit shapes differ')
            t_prob = t_cls.sigmoid()
            hsm = self.hsm(t, s)  # (B, H, W), detached
            norm = hsm.sum().clamp_min(1e-6)
            if level in self.fdr_levels:
                frs = t_prob.amax(dim=1)  # FRS richness score (B, H, W)
                t_rec = self.fdr(t, frs, is_teacher=True)
                s_rec = self.fdr(s, frs)
            elif level in self.ede_levels:
                mask = ede_mask if ede_mask is not None else t.new_ones(
                    t.shape[0], 1, 1, 1)
                t_rec, s_rec = self.ede(t, mask), s
            else:
                t_rec, s_rec = t, s
            sq = ((t_rec - s_rec)**2).sum(dim=1)
            if self.feat_norm == 'mask_sum_channel_mean':
                sq = sq / t.shape[1]
            feat_loss = feat_loss + (hsm * sq).sum() / norm
            bce = F.binary_cross_entropy_with_logits(
                s_cls.float(), t_prob.float(), reduction='none').sum(dim=1)
            head_loss = head_loss + (hsm * bce).sum() / norm
        return feat_loss, head_loss
