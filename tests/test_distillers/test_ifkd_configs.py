"""IFKD configs: learning rates as mmengine scales them (and as the README
states), checkpoint retention, the two-stage EDE, the mode and ablation
configs (one key each)."""
import re
import types

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.runner import Runner

IFKD = 'configs/ifkd/'
DATASETS = ('sar-aircraft', 'shiprs')


def load(repo_root, name: str) -> Config:
    return Config.fromfile(str(repo_root / IFKD / name))


def scaled_lr(cfg: Config, gpus: int) -> float:
    """The lr mmengine's Runner trains with on ``gpus`` processes."""
    param = torch.nn.Parameter(torch.zeros(1))
    wrapper = OptimWrapper(
        torch.optim.SGD([param], lr=cfg.optim_wrapper.optimizer.lr))
    runner = types.SimpleNamespace(
        _train_dataloader=cfg.train_dataloader, world_size=gpus,
        param_schedulers=None, logger=types.SimpleNamespace(
            info=lambda *a, **k: None))
    Runner.scale_lr(runner, wrapper, cfg.auto_scale_lr)
    return wrapper.optimizer.param_groups[0]['lr']


def readme_lr_table(repo_root):
    """``{gpus: (total batch, Faster R-CNN lr, RetinaNet lr)}`` from the
    README's table."""
    text = (repo_root / IFKD / 'README.md').read_text()
    rows = re.findall(
        r'^\| (\d+) \| (\d+) \| ([\d.]+) \| ([\d.]+) \|$', text, re.M)
    return {int(g): (int(b), float(f), float(r)) for g, b, f, r in rows}


@pytest.mark.parametrize('dataset', DATASETS)
def test_learning_rates_scale_from_the_reference_at_batch_16(
        repo_root, dataset):
    table = readme_lr_table(repo_root)
    assert sorted(table) == [1, 2, 4, 8]
    configs = {
        'faster': [f'faster-rcnn_r50_fpn_100e_{dataset}.py',
                   f'faster-rcnn_r18_fpn_100e_{dataset}.py',
                   f'faster-rcnn_mobilenetv2_fpn_100e_{dataset}.py',
                   f'ifkd_faster-rcnn_r50-r18_fpn_100e_{dataset}.py',
                   f'ifkd_faster-rcnn_r50-mobilenetv2_fpn_100e_{dataset}.py'],
        'retina': [f'retinanet_r50_fpn_100e_{dataset}.py',
                   f'retinanet_r18_fpn_100e_{dataset}.py',
                   f'retinanet_mobilenetv2_fpn_100e_{dataset}.py',
                   f'ifkd_retinanet_r50-r18_fpn_100e_{dataset}.py',
                   f'ifkd_retinanet_r50-mobilenetv2_fpn_100e_{dataset}.py']
    }
    for family, names in configs.items():
        for name in names:
            cfg = load(repo_root, name)
            # mmdet's reference lrs at 16 images
            assert cfg.optim_wrapper.optimizer.lr == (
                0.02 if family == 'faster' else 0.01), name
            assert cfg.auto_scale_lr == dict(enable=True,
                                             base_batch_size=16), name
            for gpus, (batch, faster, retina) in table.items():
                assert gpus * cfg.train_dataloader.batch_size == batch
                expected = faster if family == 'faster' else retina
                assert scaled_lr(cfg, gpus) == pytest.approx(
                    expected, rel=1e-12), (name, gpus)


def test_checkpoints_are_bounded(repo_root):
    for name in ('retinanet_r50_fpn_100e_shiprs.py',
                 'faster-rcnn_r18_fpn_100e_sar-aircraft.py',
                 'ifkd_faster-rcnn_r50-r18_fpn_100e_shiprs.py'):
        hook = load(repo_root, name).default_hooks.checkpoint
        assert hook.max_keep_ckpts == 3 and hook.interval == 10, name
        # the teacher checkpoint the IFKD configs load is written
        assert 100 % hook.interval == 0


@pytest.mark.parametrize('dataset', DATASETS)
def test_two_stage_ede_has_no_residual(repo_root, dataset):
    for student in ('r18', 'mobilenetv2'):
        faster = load(repo_root,
                      f'ifkd_faster-rcnn_r50-{student}_fpn_100e_{dataset}.py')
        retina = load(repo_root,
                      f'ifkd_retinanet_r50-{student}_fpn_100e_{dataset}.py')
        assert faster.model.distill_loss.ede.residual is False
        assert retina.model.distill_loss.ede.residual is True
        assert faster.model.teacher_config.endswith(
            f'faster-rcnn_r50_fpn_100e_{dataset}.py')


PAPER = 'ifkd_retinanet_r50-mobilenetv2_fpn_100e_shiprs_paper.py'
ABLATIONS = {
    # name suffix: (EDE, FDR, HSM)
    'ede-fdr': (True, True, False),
    'ede-hsm': (True, False, True),
    'fdr-hsm': (False, True, True),
    'ede': (True, False, False),
    'fdr': (False, True, False),
    'hsm': (False, False, True),
    'none': (False, False, False),
}


def modules(distill_loss) -> tuple:
    return (bool(distill_loss.ede_levels), bool(distill_loss.fdr_levels),
            distill_loss.use_hsm)


def test_paper_mode_is_eq12_on_every_level(repo_root):
    loss = load(repo_root, PAPER).model.distill_loss
    assert tuple(loss.fdr_levels) == tuple(loss.ede_levels) == tuple(
        range(5))
    assert loss.hsm_input == 'reconstructed' and loss.use_hsm
    assert loss.ede.generator is False and loss.ede.combine == 'add'
    assert (loss.alpha, loss.beta) == (0.06, 0.5)


@pytest.mark.parametrize('suffix', sorted(ABLATIONS))
def test_ablation_configs_change_one_key(repo_root, suffix):
    name = f'ablation/{PAPER[:-3]}_{suffix}.py'
    cfg = load(repo_root, name)
    assert modules(cfg.model.distill_loss) == ABLATIONS[suffix]
    path = repo_root / IFKD / name
    parent_name = re.search(r"^_base_ = '(.+)'$", path.read_text(),
                            re.M).group(1)
    parent = Config.fromfile(str(path.parent / parent_name))
    child, base = cfg.model.to_dict(), parent.model.to_dict()
    changed = [k for k in base['distill_loss']
               if base['distill_loss'][k] != child['distill_loss'][k]]
    assert len(changed) == 1, changed
    base['distill_loss'].pop(changed[0])
    child['distill_loss'].pop(changed[0])
    assert child == base


def test_mode_configs_build(repo_root):
    from mmosar.registry import MODELS
    for name in (PAPER,
                 'ifkd_retinanet_r50-mobilenetv2_fpn_100e_sar-aircraft_'
                 'released.py',
                 'ifkd_retinanet_r50-r18_fpn_100e_sar-aircraft.py'):
        cfg = load(repo_root, name).model.distill_loss
        loss = MODELS.build(cfg)
        assert loss.num_levels == 5, name
