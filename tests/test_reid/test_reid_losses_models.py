"""ReID losses, BNNeck head and the contrastive pretraining model."""
import math

import pytest
import torch
from mmpretrain.structures import DataSample

from mmosar.models.reid import (
    BatchHardTripletLoss,
    BNNeckHead,
    OptiSarContrastive,
    SymmetricInfoNCELoss,
    TransOSS,
)
from mmosar.utils.checkpoint import StateDictMismatchError

TINY_BACKBONE = dict(
    type='TransOSSViT',
    arch=dict(embed_dims=32, num_layers=1, num_heads=2,
              feedforward_channels=64),
    img_size=(32, 16),
    patch_size=8,
    drop_path_rate=0.0)


def _brute_force_triplet(feats, labels, margin):
    losses = []
    for a in range(len(labels)):
        pos = [torch.norm(feats[a] - feats[j]) for j in range(len(labels))
               if labels[j] == labels[a]]
        neg = [torch.norm(feats[a] - feats[j]) for j in range(len(labels))
               if labels[j] != labels[a]]
        gap = max(pos) - min(neg)
        losses.append(math.log1p(math.exp(gap)) if margin is None else
                      max(0.0, gap + margin))
    return sum(losses) / len(losses)


@pytest.mark.parametrize('margin', [None, 0.3])
def test_batch_hard_triplet_against_brute_force(margin):
    torch.manual_seed(0)
    feats = torch.randn(12, 5, dtype=torch.float64)
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3])
    loss = BatchHardTripletLoss(margin=margin)(feats, labels)
    assert float(loss) == pytest.approx(
        float(_brute_force_triplet(feats, labels, margin)), rel=1e-6)


def test_triplet_gradient_is_finite_with_duplicates():
    feats = torch.ones(4, 3, requires_grad=True)  # zero distances
    BatchHardTripletLoss()(feats, torch.tensor([0, 0, 1, 1])).backward()
    assert torch.isfinite(feats.grad).all()


def test_symmetric_infonce_against_formula():
    torch.manual_seed(0)
    a = torch.nn.functional.normalize(torch.randn(5, 8), dim=1)
    b = torch.nn.functional.normalize(torch.randn(5, 8), dim=1)
    s = torch.tensor(1 / 0.07)
    sim = (s * a @ b.t()).tolist()
    rows = [-sim[i][i] + math.log(sum(math.exp(v) for v in sim[i]))
            for i in range(5)]
    cols = [-sim[i][i] + math.log(sum(math.exp(sim[j][i]) for j in range(5)))
            for i in range(5)]
    expected = 0.5 * (sum(rows) / 5 + sum(cols) / 5)
    assert float(SymmetricInfoNCELoss()(s * a @ b.t())) == pytest.approx(
        expected, rel=1e-5)
    with pytest.raises(ValueError, match='square'):
        SymmetricInfoNCELoss()(torch.zeros(2, 3))


def _samples(labels, modalities, sizes=None):
    out = []
    for i, (label, mod) in enumerate(zip(labels, modalities)):
        ds = DataSample().set_gt_label(label)
        ds.set_metainfo(dict(modality=mod))
        if sizes is not None:
            ds.set_metainfo(dict(ship_size=sizes[i]))
        out.append(ds)
    return out


def test_contrastive_model_pairs_by_id_in_any_order():
    torch.manual_seed(0)
    model = OptiSarContrastive(
        backbone=dict(TINY_BACKBONE, with_size_token=False))
    model.init_weights()
    model.eval()
    assert float(model.logit_scale) == pytest.approx(math.log(1 / 0.07))
    x = torch.rand(6, 3, 32, 16)
    labels, mods = [0, 1, 2, 0, 1, 2], [0, 0, 0, 1, 1, 1]
    with torch.no_grad():
        loss = model(x, _samples(labels, mods), mode='loss')['loss_infonce']
        perm = [4, 0, 2, 5, 3, 1]
        shuffled = model(x[perm], _samples([labels[i] for i in perm],
                                           [mods[i] for i in perm]),
                         mode='loss')['loss_infonce']
        # Reference: features in optical-first order, symmetric InfoNCE.
        f = torch.nn.functional.normalize(
            model.backbone(x, torch.tensor(mods))[0], dim=1)
        ref = SymmetricInfoNCELoss()(
            model.logit_scale.exp() * f[3:] @ f[:3].t())
    assert float(loss) == pytest.approx(float(ref), rel=1e-5)
    assert float(shuffled) == pytest.approx(float(ref), rel=1e-5)
    with pytest.raises(ValueError, match='unmatched'):
        model(x[:4], _samples([0, 1, 2, 0], [0, 0, 0, 1]), mode='loss')


def test_transoss_loss_and_prediction():
    torch.manual_seed(0)
    model = TransOSS(
        backbone=TINY_BACKBONE,
        head=dict(type='BNNeckHead', in_channels=32, num_classes=3))
    model.init_weights()
    head = model.head
    assert not head.bnneck.bias.requires_grad
    assert head.classifier.bias is None
    x = torch.rand(6, 3, 32, 16)
    labels, mods = [0, 0, 1, 1, 2, 2], [0, 1, 0, 1, 0, 1]
    sizes = [[0.0, 0.5, 3.0]] * 6
    losses = model(x, _samples(labels, mods, sizes), mode='loss')
    total = losses['loss_cls'] + losses['loss_triplet']
    assert torch.isfinite(total)
    total.backward()
    assert model.backbone.patch_embed_sar.projection.weight.grad is not None
    # Identity loss at init: classifier weights ~ N(0, 0.001) -> ~ln(3).
    assert float(losses['loss_cls']) == pytest.approx(math.log(3), abs=0.05)
    model.eval()
    with torch.no_grad():
        preds = model(x, _samples(labels, mods, sizes), mode='predict')
        global_feat = model.backbone(
            x, torch.tensor(mods), torch.tensor(sizes))[0]
    expected = torch.nn.functional.normalize(global_feat, dim=1)
    for ds, f in zip(preds, expected):
        torch.testing.assert_close(ds.pred_feature, f)  # pre-BN, L2-normed


def test_bnneck_head_errors():
    with pytest.raises(ValueError, match='num_classes'):
        BNNeckHead(in_channels=8, num_classes=None)
    head = BNNeckHead(in_channels=8, num_classes=2)
    with pytest.raises(ValueError, match='identity label 5'):
        head.loss((torch.randn(4, 8), ), _samples([0, 1, 5, 1], [0] * 4))


def test_finetuning_starts_from_a_pretraining_checkpoint(tmp_path):
    torch.manual_seed(0)
    pre = OptiSarContrastive(
        backbone=dict(TINY_BACKBONE, with_size_token=False))
    pre.init_weights()
    path = tmp_path / 'epoch_60.pth'
    torch.save({'state_dict': pre.state_dict()}, path)
    model = TransOSS(
        backbone=dict(
            TINY_BACKBONE,
            init_cfg=dict(type='Pretrained', checkpoint=str(path),
                          prefix='backbone.',
                          allowed_missing=['size_embed.*'])),
        head=dict(type='BNNeckHead', in_channels=32, num_classes=3))
    model.init_weights()
    loaded = model.backbone.state_dict()
    for key, value in pre.backbone.state_dict().items():
        torch.testing.assert_close(loaded[key], value)  # SAR head included
    assert model.backbone.size_embed is not None  # new: random init
    # Without the allowance the missing size token is an error.
    strict = TransOSS(
        backbone=dict(
            TINY_BACKBONE,
            init_cfg=dict(type='Pretrained', checkpoint=str(path),
                          prefix='backbone.')),
        head=dict(type='BNNeckHead', in_channels=32, num_classes=3))
    with pytest.raises(StateDictMismatchError, match='size_embed.weight'):
        strict.init_weights()
