"""IFKD: Information Fusion with Knowledge Distillation (ACM MM 2024).

:class:`IFKDDistiller` wraps an mmdet student detector (single-stage, e.g.
RetinaNet, or two-stage, e.g. Faster R-CNN) and a frozen teacher of the same
framework. Training adds to the student's own losses the terms of
:class:`~.ifkd_loss.IFKDDistillLoss` (``alpha * L_feat + beta * L_head`` over
the FPN levels) on the FPN features and the classification logits of the
distilled head (RetinaNet: ``bbox_head`` class scores; Faster R-CNN:
``rpn_head`` objectness).

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
        distill_loss: :class:`~.ifkd_loss.IFKDDistillLoss` config (loss
            weights, levels, FDR / EDE / HSM settings); its parameters are
            saved as ``distill_loss.*``.
        ede_mask_source: ``'cache'`` (masks precomputed by
            ``tools/ifkd/cache_ede_masks.py`` arrive as ``gt_sem_seg``),
            ``'external'`` (run ``external_model`` on every batch) or
            ``'none'`` (no mask: EDE levels use ``M = 1``).
        external_model: Frozen external segmentation model config (needed
            for ``ede_mask_source='external'``).
        distill_head: Name of the student/teacher head whose class logits
            are distilled; None picks ``rpn_head`` for two-stage detectors
            and ``bbox_head`` otherwise.
        init_cfg: Initialisation config of the distiller's own modules.
    """

    def __init__(self,
                 student: Union[str, dict, Config],
                 teacher_config: Union[str, dict, Config],
                 teacher_ckpt: Optional[str] = None,
                 distill_loss: Optional[dict] = None,
                 ede_mask_source: str = 'cache',
                 external_model: Optional[dict] = None,
                 distill_head: Optional[str] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if ede_mask_source not in MASK_SOURCES:
            raise ValueError(f'ede_mask_source must be one of '
                             f'{MASK_SOURCES}, got {ede_mask_source!r}')
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
        self.ede_mask_source = ede_mask_source
        loss_cfg = dict(distill_loss or {})
        loss_cfg.setdefault('type', 'IFKDDistillLoss')
        self.distill_loss = MODELS.build(loss_cfg)

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
        losses.update(
            self.distill_loss.loss(t_feats, t_logits, s_feats, s_logits,
                                   ede_mask))
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
        if not self.distill_loss.needs_ede_mask or \
                self.ede_mask_source == 'none':
            return None
        if self.ede_mask_source == 'cache':
            return pad_cached_masks(data_samples, inputs.shape[-2:],
                                    inputs.device)
        with torch.no_grad():
            return self.external_model(inputs).sigmoid()
