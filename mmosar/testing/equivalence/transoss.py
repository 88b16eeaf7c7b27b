"""TransOSS (Hoss-ReID at bd9b902) against the ``transoss`` fixture.

The released-name weights of the fixture (``recipe.make_state_dict``) go
through :func:`mmosar.utils.converters.transoss.convert_transoss` and are
loaded strictly into the models of mmosar's released configs
(``configs/transoss/transoss_vit-b16_p8k4-200e_hoss.py`` and
``..._optisar-pair-pretrain.py``, without their pretrained ``init_cfg``),
cast to float64. Compared, each within the report's tolerance:

* the ship-size input that :class:`ShipSizeVector` computes from the raw
  (width, height) of each image;
* eval mode, one modality per batch: the class token after the final
  LayerNorm (``global_feat``), its L2-normalised form (``pred_feature``,
  what the released evaluator ranks) and the BNNeck output;
* train mode (DropPath off, as the fixture) on the mixed batch
  [opt0, sar0, sar1, opt1]: the sequence entering block 0, the global
  feature, the BNNeck output with batch statistics and the class scores;
* the contrastive pretraining model: eval features, train-mode pair logits
  and the symmetric InfoNCE loss, with the recipe ``logit_scale`` and with
  the released initial value.
"""
from pathlib import Path
from typing import List, Sequence

import numpy as np
import torch
from mmcv.cnn.bricks.drop import DropPath
from mmengine.config import Config
from mmpretrain.structures import DataSample

from mmosar.registry import MODELS
from mmosar.utils.checkpoint import load_state_dict_strict
from mmosar.utils.converters.transoss import convert_transoss

from . import EquivalenceReport, Fixture

CONFIG_DIR = Path(__file__).resolve().parents[3] / 'configs' / 'transoss'
REID_CONFIG = CONFIG_DIR / 'transoss_vit-b16_p8k4-200e_hoss.py'
PRETRAIN_CONFIG = CONFIG_DIR / \
    'transoss_vit-b16_4xb128-60e_optisar-pair-pretrain.py'


def build_released_model(config: Path, **head_cfg) -> torch.nn.Module:
    """The model of an mmosar TransOSS config without pretrained init."""
    from mmosar.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(config).model
    cfg.backbone.init_cfg = None
    if head_cfg:
        cfg.head.update(head_cfg)
    return MODELS.build(cfg)


def samples(modalities: Sequence[int], ship_sizes=None,
            labels: Sequence[int] = None) -> List[DataSample]:
    """Data samples carrying what :class:`ModalityAwareEmbedder` reads."""
    out = []
    for i, modality in enumerate(modalities):
        ds = DataSample(metainfo=dict(modality=int(modality)))
        if ship_sizes is not None:
            ds.set_metainfo(dict(ship_size=np.asarray(ship_sizes[i])))
        if labels is not None:
            ds.set_gt_label(int(labels[i]))
        out.append(ds)
    return out


def train_without_drop_path(model: torch.nn.Module) -> None:
    """Train mode with every DropPath switched off (as the fixture)."""
    model.train()
    for module in model.modules():
        if isinstance(module, DropPath):
            module.eval()


def check_ship_size(fixture: Fixture, report: EquivalenceReport) -> None:
    from mmosar.datasets.transforms.reid_chip import ShipSizeVector
    transform = ShipSizeVector()
    for name, modality in (('optical', 0), ('sar', 1)):
        sizes = [
            transform.transform(
                dict(ori_shape=(int(h), int(w)), modality=modality))
            ['ship_size'] for w, h in fixture[f'inputs/{name}_raw_wh']
        ]
        report.compare(f'inputs/{name}_img_wh', np.stack(sizes),
                       fixture[f'inputs/{name}_img_wh'])


def released_reid_model(fixture: Fixture) -> torch.nn.Module:
    """The HOSS config's model with the fixture's converted weights, loaded
    strictly, float64, eval mode."""
    num_classes = int(fixture.manifest['num_classes'])
    model = build_released_model(REID_CONFIG, num_classes=num_classes)
    weights = convert_transoss(fixture.released_state_dict(), target='reid')
    load_state_dict_strict(model, weights, 'transoss fixture (converted)')
    model.double().eval()
    return model


def mixed_batch(fixture: Fixture):
    """The fixture's mixed train batch: images, modality ids, sizes."""
    index = torch.from_numpy(fixture['train/mixed_index'])
    x = torch.cat((torch.from_numpy(fixture['inputs/optical']),
                   torch.from_numpy(fixture['inputs/sar'])))[index]
    return (x, torch.from_numpy(fixture['train/mixed_cam_label']),
            fixture['train/mixed_img_wh'])


def check_reid(fixture: Fixture, report: EquivalenceReport) -> None:
    model = released_reid_model(fixture)
    inputs = {
        name: torch.from_numpy(fixture[f'inputs/{name}'])
        for name in ('optical', 'sar')
    }
    sizes = {
        name: fixture[f'inputs/{name}_img_wh']
        for name in ('optical', 'sar')
    }
    with torch.no_grad():
        for modality, name in enumerate(('optical', 'sar')):
            data = samples([modality] * 2, sizes[name])
            feat = model.extract_feat(inputs[name], data)[-1]
            report.compare(f'eval/{name}/global_feat', feat,
                           fixture[f'eval/{name}/global_feat'])
            preds = model.head.predict((feat, ), data)  # model.predict
            report.compare(f'eval/{name}/retrieval_feat',
                           torch.stack([p.pred_feature for p in preds]),
                           fixture[f'eval/{name}/retrieval_feat'])
            report.compare(f'eval/{name}/bn_feat', model.head.bnneck(feat),
                           fixture[f'eval/{name}/bn_feat'])

        x, cams, wh = mixed_batch(fixture)
        data = samples(cams.tolist(), wh)
        train_without_drop_path(model)
        tokens, _ = model.backbone.embed_tokens(x, cams, torch.from_numpy(wh))
        report.compare('train/mixed/tokens_before_blocks', tokens,
                       fixture['train/mixed/tokens_before_blocks'])
        feat = model.extract_feat(x, data)[-1]
        report.compare('train/mixed/global_feat', feat,
                       fixture['train/mixed/global_feat'])
        report.compare('train/mixed/bn_feat', model.head.bnneck(feat),
                       fixture['train/mixed/bn_feat'])
        report.compare('train/mixed/cls_score', model.head.class_scores(feat),
                       fixture['train/mixed/cls_score'])


def check_pretrain(fixture: Fixture, report: EquivalenceReport) -> None:
    model = build_released_model(PRETRAIN_CONFIG)
    released = fixture.recipe.make_state_dict(
        fixture.manifest['pretrain_model'])
    weights = convert_transoss(released, target='pretrain')
    load_state_dict_strict(model, weights,
                           'transoss fixture pretrain_model (converted)')
    model.double().eval()
    x = torch.cat((torch.from_numpy(fixture['inputs/optical']),
                   torch.from_numpy(fixture['inputs/sar'])))
    data = samples([0, 0, 1, 1], labels=[0, 1, 0, 1])
    with torch.no_grad():
        report.compare('pretrain/eval_global_feat',
                       model.extract_feat(x, data)[-1],
                       fixture['pretrain/eval_global_feat'])
        report.compare('pretrain/logit_scale_param', model.logit_scale,
                       fixture['pretrain/logit_scale_param'])
        train_without_drop_path(model)
        logits = model.pair_logits(x, data)
        report.compare('pretrain/logits_per_sar', logits,
                       fixture['pretrain/logits_per_sar'])
        report.compare('pretrain/loss', model.loss_module(logits),
                       fixture['pretrain/loss'])
        # The released initial temperature, on the same train-mode features.
        feats = model.extract_feat(x, data)[-1]
        model.logit_scale.fill_(float(fixture['pretrain/logit_scale_init']))
        logits = model.logits_from_feats(feats, data)
        report.compare('pretrain/logits_per_sar_at_init_scale', logits,
                       fixture['pretrain/logits_per_sar_at_init_scale'])
        report.compare('pretrain/loss_at_init_scale',
                       model.loss_module(logits),
                       fixture['pretrain/loss_at_init_scale'])


def check(fixture: Fixture, report: EquivalenceReport) -> None:
    """Every array of the ``transoss`` fixture (see the module doc)."""
    check_ship_size(fixture, report)
    check_reid(fixture, report)
    check_pretrain(fixture, report)
