"""Toy TransOSS pretraining and fine-tuning through the mmengine Runner."""
import importlib.util
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.runner import Runner


@pytest.fixture(scope='module')
def toy_data(tmp_path_factory, shared_data, repo_root):
    spec = importlib.util.spec_from_file_location(
        'make_toy_hoss', repo_root / 'tools' / 'data' / 'make_toy_hoss.py')
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    out = tmp_path_factory.mktemp('toy')
    # 16 training ids, as model.head.num_classes of the toy HOSS config.
    args = gen.argparse.Namespace(
        num_train_ids=16, num_test_ids=4, num_distractors=1, chips=2,
        num_pairs=16, pairs_per_folder=8)
    places = gen.load_places(shared_data / '3mos_pairs')
    gen.make_hoss(places, out / 'hoss', args, np.random.default_rng(0))
    gen.make_pairs(places, out / 'pairs', args)
    return out


def _runner(repo_root, name, work_dir):
    cfg = Config.fromfile(repo_root / 'configs' / 'transoss' / name)
    cfg.work_dir = str(work_dir)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=-1)
    cfg.visualizer.vis_backends = []
    return cfg


def _history(runner, key):
    return runner.message_hub.get_scalar(f'train/{key}').data[0]


def _released_lr(base, t, total, warmup):
    """Hand-worked released schedule (timm cosine, warmup_lr_init 0.01 b,
    lr_min 0.002 b, cosine not shifted by the warm-up), step t >= 1."""
    if t < warmup:
        return 0.01 * base + t * 0.99 * base / warmup
    if t >= total:
        return 0.002 * base
    return 0.002 * base + 0.499 * base * (1 + math.cos(math.pi * t / total))


def test_toy_pretraining(repo_root, toy_data, tmp_path):
    cfg = _runner(repo_root, 'transoss_vit-tiny_toy-pretrain.py', tmp_path)
    cfg.train_dataloader.dataset.data_root = str(toy_data / 'pairs')
    runner = Runner.from_cfg(cfg)
    runner.train()
    steps = cfg.train_cfg.max_iters
    # The learning rate of every iteration, against the released formula.
    np.testing.assert_allclose(
        _history(runner, 'lr'),
        [_released_lr(0.003, t, steps, 2) for t in range(1, steps + 1)],
        rtol=1e-9)
    # The released initial temperature, exp(2.6592) = 14.2855 (~1 / 0.07),
    # as the first iteration's logit scale.
    assert _history(runner, 'logit_scale')[0] == pytest.approx(
        math.exp(2.6592), rel=1e-6)
    # A batch of the runner's sampler and pipeline: the model's loss equals
    # a symmetric InfoNCE written out pair by pair over its pair ids.
    model = runner.model
    model.eval()
    data = model.data_preprocessor(next(iter(runner.train_dataloader)))
    with torch.no_grad():
        loss = float(model(**data, mode='loss')['loss_infonce'])
        feats = F.normalize(
            model.extract_feat(data['inputs'], data['data_samples'])[-1],
            dim=1).double()
        scale = math.exp(float(model.logit_scale))
    where = {0: {}, 1: {}}
    for i, ds in enumerate(data['data_samples']):
        where[int(ds.modality)][int(ds.gt_label)] = i
    pids = sorted(where[0])
    assert sorted(where[1]) == pids and 2 * len(pids) == len(feats) == 8
    sim = [[scale * float(feats[where[1][a]] @ feats[where[0][b]])
            for b in pids] for a in pids]
    n = len(pids)
    rows = [math.log(sum(math.exp(v) for v in sim[i])) - sim[i][i]
            for i in range(n)]
    cols = [math.log(sum(math.exp(sim[j][i]) for j in range(n))) - sim[i][i]
            for i in range(n)]
    assert loss == pytest.approx(0.5 * (sum(rows) + sum(cols)) / n,
                                 rel=1e-5)


def _brute_force_reid(results):
    """Market-1501 mAP / CMC (released evaluator) by loops, per protocol:
    squared Euclidean distances of L2-normalised features, every gallery
    item kept, queries without a gallery match skipped."""
    out = {}
    for protocol in sorted({r['protocol'] for r in results}):
        query = [r for r in results
                 if r['protocol'] == protocol and r['role'] == 'query']
        gallery = [r for r in results
                   if r['protocol'] == protocol and r['role'] == 'gallery']
        aps, firsts = [], []
        for q in query:
            dist = [float(((q['feat'] - g['feat'])**2).sum())
                    for g in gallery]
            order = sorted(range(len(gallery)), key=lambda i: dist[i])
            hits = [gallery[i]['id'] == q['id'] for i in order]
            if not any(hits):
                continue
            ranks = [k for k, h in enumerate(hits) if h]
            aps.append(np.mean([(n + 1) / (k + 1)
                                for n, k in enumerate(ranks)]))
            firsts.append(ranks[0])
        out[f'reid/{protocol}_mAP'] = 100 * float(np.mean(aps))
        for k in (1, 5, 10):
            out[f'reid/{protocol}_R{k}'] = 100 * float(
                np.mean([f < k for f in firsts]))
    return out


def test_toy_finetuning_and_three_protocol_test(repo_root, toy_data,
                                                tmp_path):
    cfg = _runner(repo_root, 'transoss_vit-tiny_toy-hoss.py', tmp_path)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = str(toy_data / 'hoss')
    runner = Runner.from_cfg(cfg)
    runner.train()
    steps = cfg.train_cfg.max_iters
    np.testing.assert_allclose(
        _history(runner, 'lr'),
        [_released_lr(5e-4, t, steps, 2) for t in range(1, steps + 1)],
        rtol=1e-9)
    # Identity loss at init: classifier ~ N(0, 0.001), 16 ids -> ln(16).
    assert _history(runner, 'loss_cls')[0] == pytest.approx(
        math.log(16), abs=0.05)
    metrics = runner.test()
    # Independent reference: the same embeddings ranked by brute force.
    runner.model.eval()
    results = []
    with torch.no_grad():
        for batch in runner.test_dataloader:
            for ds in runner.model.test_step(batch):
                results.append(dict(
                    feat=ds.pred_feature.double().cpu().numpy(),
                    id=int(ds.gt_label), role=ds.role,
                    protocol=ds.protocol))
    expected = _brute_force_reid(results)
    assert {k.split('_')[0] for k in expected} == {
        'reid/ALL', 'reid/O2S', 'reid/S2O'}
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value, abs=1e-4), key
