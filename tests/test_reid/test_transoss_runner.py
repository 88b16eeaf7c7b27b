"""Toy TransOSS pretraining and fine-tuning through the mmengine Runner."""
import importlib.util
import math

import numpy as np
import pytest
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


def _train_losses(runner, key):
    return runner.message_hub.get_scalar(f'train/{key}').data[0]


def test_toy_pretraining(repo_root, toy_data, tmp_path):
    cfg = _runner(repo_root, 'transoss_vit-tiny_toy-pretrain.py', tmp_path)
    cfg.train_dataloader.dataset.data_root = str(toy_data / 'pairs')
    runner = Runner.from_cfg(cfg)
    runner.train()
    losses = _train_losses(runner, 'loss_infonce')
    assert len(losses) == cfg.train_cfg.max_iters
    assert all(math.isfinite(v) for v in losses)
    # 4 pairs per batch: the initial loss is near ln(4), not degenerate.
    assert 0.5 < losses[0] < 5.0


def test_toy_finetuning_and_three_protocol_test(repo_root, toy_data,
                                                tmp_path):
    cfg = _runner(repo_root, 'transoss_vit-tiny_toy-hoss.py', tmp_path)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = str(toy_data / 'hoss')
    runner = Runner.from_cfg(cfg)
    runner.train()
    for key in ('loss_cls', 'loss_triplet', 'loss'):
        assert all(math.isfinite(v) for v in _train_losses(runner, key))
    metrics = runner.test()
    for protocol in ('ALL', 'O2S', 'S2O'):
        for name in ('mAP', 'R1', 'R5', 'R10'):
            value = metrics[f'reid/{protocol}_{name}']
            assert 0.0 <= value <= 100.0
        assert metrics[f'reid/{protocol}_R1'] <= metrics[
            f'reid/{protocol}_R5'] <= metrics[f'reid/{protocol}_R10']
