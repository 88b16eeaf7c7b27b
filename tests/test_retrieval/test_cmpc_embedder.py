"""CMPC embedding stage: cross-modal triplet loss, Wasserstein critic,
two-optimizer train_step, optimizer constructor."""
import numpy as np
import pytest
import torch
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmpretrain.structures import DataSample

from mmosar.models.retrieval import (
    CMPCEmbedder,
    CrossModalTripletLoss,
    ModalityWassersteinCritic,
    SubmoduleOptimWrapperConstructor,
)


def _reference_triplet(sar, opt, ls, lo, margin):
    """Loop over anchors; squared Euclidean; only cross-modal candidates."""
    total = 0.0
    for anchors, cands, la, lc in ((sar, opt, ls, lo), (opt, sar, lo, ls)):
        hinges = []
        for a, lab in zip(anchors, la):
            d = [float(((a - c)**2).sum()) for c in cands]
            pos = [x for x, label in zip(d, lc) if label == lab]
            neg = [x for x, label in zip(d, lc) if label != lab]
            if pos and neg:
                hinges.append(max(0.0, max(pos) - min(neg) + margin))
        if hinges:
            total += np.mean(hinges)
    return total


def test_cross_modal_triplet_matches_loop_reference():
    rng = np.random.default_rng(0)
    sar = rng.normal(size=(7, 5))
    opt = rng.normal(size=(6, 5))
    ls = np.array([0, 1, 2, 3, 3, 4, 9])  # 9: no positive -> skipped
    lo = np.array([0, 1, 2, 3, 4, 5])
    loss = CrossModalTripletLoss(margin=0.5)(*map(torch.as_tensor,
                                                  (sar, opt, ls, lo)))
    assert loss.item() == pytest.approx(
        _reference_triplet(sar, opt, ls, lo, 0.5), rel=1e-6)


def test_triplet_ignores_same_modality_negatives():
    # two SAR embeddings of different places are identical: a single-modality
    # triplet would be violated, the cross-modal one is satisfied.
    sar = torch.tensor([[0., 0.], [0., 0.]])
    opt = torch.tensor([[0., 0.], [10., 0.]])
    labels = torch.tensor([0, 1])
    loss = CrossModalTripletLoss(margin=0.5)(sar[:1], opt, labels[:1],
                                             labels)
    assert loss.item() == 0


def test_critic_losses_and_clipping():
    torch.manual_seed(0)
    critic = ModalityWassersteinCritic(4, 8, clip_value=0.05,
                                       hard_fraction=0.5)
    sar, opt = torch.randn(6, 4), torch.randn(6, 4)
    ds, do = critic(sar), critic(opt)
    expected = do.sort(descending=True).values[:3].mean() - \
        ds.sort().values[:3].mean()
    assert critic.critic_loss(sar, opt).item() == pytest.approx(
        expected.item(), abs=1e-6)
    assert critic.generator_loss(opt).item() == pytest.approx(
        -do.sort(descending=True).values[:3].mean().item(), abs=1e-6)
    critic.clip_weights()
    assert max(p.abs().max().item()
               for p in critic.parameters()) <= 0.05 + 1e-7


def _tiny_embedder(critic=True):
    return CMPCEmbedder(
        backbone=dict(
            type='ResNet',
            depth=18,
            base_channels=8,  # 64 output channels: cheap on CPU
            out_indices=(3, ),
            strides=(1, 2, 2, 1),
            norm_eval=False),
        head=dict(
            type='CrossModalEmbeddingHead', in_channels=64,
            proj_channels=32),
        critic=dict(type='ModalityWassersteinCritic', in_channels=32,
                    hidden_channels=16) if critic else None,
        critic_steps=5)


def _pair_batch(n=4, size=32):
    return dict(
        inputs=[
            torch.randint(0, 255, (n, 3, size, size), dtype=torch.uint8),
            torch.randint(0, 255, (n, 3, size, size), dtype=torch.uint8)
        ],
        data_samples=[DataSample().set_gt_label(i) for i in range(n)])


def test_last_stride_one_and_feature_shapes():
    model = _tiny_embedder().eval()
    images = torch.rand(2, 3, 64, 64)
    feats = model.backbone(images)
    assert feats[-1].shape[-2:] == (4, 4)  # output stride 16
    out = model(images, mode='tensor')
    assert out.shape == (2, 64)
    assert torch.allclose(out.norm(dim=1), torch.ones(2))


def test_train_step_two_optimizers():
    torch.manual_seed(0)
    model = _tiny_embedder()
    wrappers = SubmoduleOptimWrapperConstructor(
        dict(
            embedder=dict(
                modules=['backbone', 'head'],
                optimizer=dict(type='SGD', lr=0.01)),
            critic=dict(
                modules=['critic'], optimizer=dict(type='Adam',
                                                   lr=1e-3))))(model)
    assert isinstance(wrappers, OptimWrapperDict)
    critic_steps = []
    step = wrappers['critic'].optimizer.step
    wrappers['critic'].optimizer.step = \
        lambda *a, **k: (critic_steps.append(1), step(*a, **k))[1]
    backbone_before = model.backbone.conv1.weight.detach().clone()
    log_vars = model.train_step(_pair_batch(), wrappers)
    assert len(critic_steps) == 5
    assert {'loss', 'loss_triplet', 'loss_adv', 'critic_wdist'} <= set(
        log_vars)
    assert not torch.equal(backbone_before, model.backbone.conv1.weight)
    assert max(p.abs().max().item()
               for p in model.critic.parameters()) <= 0.1 + 1e-7
    # the embedder objective left no gradient on the critic
    assert all(p.grad is None or not p.grad.any()
               for p in model.critic.parameters())


def test_train_step_without_critic_accepts_plain_wrapper():
    model = _tiny_embedder(critic=False)
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))
    log_vars = model.train_step(_pair_batch(), wrapper)
    assert 'loss_adv' not in log_vars
    with pytest.raises(TypeError, match='OptimWrapperDict'):
        _tiny_embedder().train_step(_pair_batch(), wrapper)


def test_constructor_skips_disabled_critic_and_checks_coverage():
    model = _tiny_embedder(critic=False)
    wrappers = SubmoduleOptimWrapperConstructor(
        dict(
            embedder=dict(
                modules=['backbone', 'head'],
                optimizer=dict(type='SGD', lr=0.01)),
            critic=dict(modules=['critic'],
                        optimizer=dict(type='Adam'))))(model)
    assert list(wrappers.keys()) == ['embedder']
    with pytest.raises(ValueError, match='not covered'):
        SubmoduleOptimWrapperConstructor(
            dict(embedder=dict(
                modules=['backbone'], optimizer=dict(type='SGD',
                                                     lr=0.01))))(model)


@pytest.mark.parametrize('joint', [True, False])
def test_joint_batch_shares_batchnorm_statistics(joint):
    """Released behaviour: [optical ; SAR] is one BatchNorm batch, so in
    train mode the projector's BatchNorm1d output has the bias as its mean
    over both modalities together, not per modality (two passes)."""
    torch.manual_seed(0)
    model = _tiny_embedder(critic=False)
    model.joint_batch = joint
    model.train()
    bn_out = []
    model.head.projector[1].register_forward_hook(
        lambda module, args, out: bn_out.append(out))
    sar = torch.rand(4, 3, 32, 32)
    opt = torch.rand(4, 3, 32, 32) + 1.0  # a modality gap in the inputs
    model.embed_modalities(sar, opt)
    bias = model.head.projector[1].bias
    outputs = torch.cat(bn_out)
    assert len(bn_out) == (1 if joint else 2)
    # the batch mean of a train-mode BatchNorm output is its bias
    torch.testing.assert_close(outputs.mean(0), bias, atol=1e-5, rtol=0)
    # per modality (rows: optical first when joint)
    opt_rows, sar_rows = (outputs[:4], outputs[4:]) if joint else (
        bn_out[1], bn_out[0])
    gap = (opt_rows.mean(0) - sar_rows.mean(0)).abs().mean().item()
    if joint:
        assert gap > 0.1  # the modality gap survives normalisation
    else:
        assert gap < 1e-5  # each modality normalised on its own
