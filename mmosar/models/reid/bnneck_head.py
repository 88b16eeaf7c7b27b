"""BNNeck re-identification head (reid-strong-baseline recipe)."""
from typing import Dict, List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmosar.registry import MODELS


@MODELS.register_module()
class BNNeckHead(BaseModule):
    """BatchNorm neck + identity classifier over a global feature.

    Training: the global feature ``f`` (pre-BN) feeds the triplet loss; the
    BatchNorm1d output (bias frozen at 0) feeds a bias-free linear
    classifier trained with the identity (cross-entropy) loss. Inference:
    ``pred_feature`` is ``f`` (``test_feature='before_bn'``, as TransOSS) or
    the BN output, L2-normalised.

    Args:
        in_channels (int): Feature dimension C.
        num_classes (int): Number of training identities.
        loss_cls (dict): Identity loss config. Defaults to (mmdet's)
            softmax cross-entropy.
        loss_triplet (dict): Metric loss config. Defaults to the soft-margin
            batch-hard triplet loss.
        test_feature (str): ``'before_bn'`` or ``'after_bn'``.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 num_classes: int,
                 loss_cls: dict = dict(
                     type='CrossEntropyLoss', loss_weight=1.0),
                 loss_triplet: dict = dict(
                     type='BatchHardTripletLoss', margin=None,
                     loss_weight=1.0),
                 test_feature: str = 'before_bn',
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if test_feature not in ('before_bn', 'after_bn'):
            raise ValueError("test_feature must be 'before_bn' or "
                             f"'after_bn', got {test_feature!r}")
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(
                f'num_classes must be a positive int, got {num_classes!r}: '
                'set model.head.num_classes to the number of training '
                'identities (HOSSDataset logs it when it loads the train '
                'split)')
        self.test_feature = test_feature
        self.bnneck = nn.BatchNorm1d(in_channels)
        self.bnneck.bias.requires_grad_(False)
        self.classifier = nn.Linear(in_channels, num_classes, bias=False)
        self.loss_cls = MODELS.build(loss_cls)
        self.loss_triplet = MODELS.build(loss_triplet)

    def init_weights(self) -> None:
        """BN weight 1 / bias 0; classifier weights ~ N(0, 0.001)."""
        super().init_weights()
        nn.init.ones_(self.bnneck.weight)
        nn.init.zeros_(self.bnneck.bias)
        nn.init.normal_(self.classifier.weight, std=0.001)

    def forward(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """Global feature (pre-BN), shape (B, C), from the last stage."""
        return feats[-1]

    def class_scores(self, global_feat: torch.Tensor) -> torch.Tensor:
        """Identity logits ``classifier(BN(f))``, shape (B, num_classes).

        In train mode the BatchNorm uses the batch statistics (biased
        variance), in eval mode its running statistics.
        """
        return self.classifier(self.bnneck(global_feat))

    def loss(self, feats: Tuple[torch.Tensor],
             data_samples: Sequence) -> Dict[str, torch.Tensor]:
        """Identity + triplet losses and top-1 training accuracy.

        Args:
            feats (tuple[torch.Tensor]): Backbone outputs; the last has
                shape (B, C).
            data_samples (Sequence[DataSample]): With ``gt_label``.

        Returns:
            dict: ``loss_cls``, ``loss_triplet`` and ``accuracy_top-1``.
        """
        global_feat = self(feats)
        labels = torch.cat([ds.gt_label for ds in data_samples]).to(
            global_feat.device)
        if int(labels.max()) >= self.classifier.out_features:
            raise ValueError(
                f'identity label {int(labels.max())} >= num_classes='
                f'{self.classifier.out_features}; set model.head.num_classes '
                'to the number of training identities')
        logits = self.class_scores(global_feat)
        accuracy = (logits.argmax(dim=1) == labels).float().mean() * 100
        return {
            'loss_cls': self.loss_cls(logits, labels),
            'loss_triplet': self.loss_triplet(global_feat, labels),
            'accuracy_top-1': accuracy.detach(),
        }

    def predict(self, feats: Tuple[torch.Tensor],
                data_samples: Sequence) -> List:
        """Store the L2-normalised test feature as ``pred_feature``."""
        feat = self(feats)
        if self.test_feature == 'after_bn':
            feat = self.bnneck(feat)
        feat = F.normalize(feat, dim=1)
        for ds, f in zip(data_samples, feat):
            ds.set_field(f, 'pred_feature', field_type='data')
        return data_samples
