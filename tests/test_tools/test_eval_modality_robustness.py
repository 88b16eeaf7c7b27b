"""eval_modality_robustness.py on the toy M4-SAR set.

The clean condition must give exactly what the plain test run gives (an
independent run of the same checkpoint), every condition must really reach
the model (the inputs it sees are the loaded pair corrupted as specified),
and the tool must write its table and chart.
"""
import csv
import importlib.util
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config

CONFIG = 'configs/e2e_osdet/e2e-osdet_yolo11n-obb_toy_m4sar.py'


@pytest.fixture(scope='module')
def toy(tmp_path_factory, repo_root):
    root = tmp_path_factory.mktemp('robust')
    data = root / 'toy_m4sar'
    subprocess.run([sys.executable, 'tools/data/make_toy_m4sar.py',
                    str(data), '--num-train', '1', '--num-val', '1',
                    '--num-test', '2', '--img-size', '256'],
                   cwd=repo_root, check=True, capture_output=True,
                   timeout=300)
    from mmosar.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(repo_root / CONFIG).model)
    ckpt = root / 'random.pth'
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    options = [f'test_dataloader.dataset.data_root={data}/',
               'test_dataloader.batch_size=1']
    return root, ckpt, options


def _tool(repo_root):
    path = (repo_root / 'tools' / 'analysis_tools' /
            'eval_modality_robustness.py')
    spec = importlib.util.spec_from_file_location('robustness', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _runner(repo_root, toy, work_dir):
    from mmengine.config import DictAction  # noqa: F401

    from mmosar.utils.runner_utils import build_runner, load_tool_config
    _, ckpt, options = toy
    cfg_options = dict(o.split('=', 1) for o in options)
    cfg_options['test_dataloader.batch_size'] = 1
    cfg = load_tool_config(str(repo_root / CONFIG), cfg_options,
                           str(work_dir))
    cfg.load_from = str(ckpt)
    return build_runner(cfg)


def test_conditions_reach_the_model(repo_root, toy, tmp_path):
    tool = _tool(repo_root)
    runner = _runner(repo_root, toy, tmp_path / 'w1')
    seen = {}
    model = runner.model
    original = model.test_step

    def recording_test_step(data):
        seen.setdefault(current[0], []).append(
            [x.clone() for x in data['inputs']])
        return original(data)

    model.test_step = recording_test_step
    current = ['clean']
    conditions = tool.default_conditions()
    for name in ('clean', 'sar_zero', 'sar_shift_2'):
        current[0] = name
        tool.evaluate_conditions(runner, {name: conditions[name]})
    clean, zero, shifted = (seen[n][0][0].double() for n in
                            ('clean', 'sar_zero', 'sar_shift_2'))
    # bands: optical 0-2, SAR 3-5; the toy pairs are 256 px, the pipeline's
    # size, so the model sees the pixels as loaded
    torch.testing.assert_close(zero[:3], clean[:3], atol=0, rtol=0)
    assert (zero[3:] == 0).all() and (clean[3:] > 0).any()
    torch.testing.assert_close(shifted[:3], clean[:3], atol=0, rtol=0)
    # (2, 1) px: whole pixels, so exactly the clean SAR moved right / down
    torch.testing.assert_close(shifted[3:, 1:, 2:], clean[3:, :-1, :-2],
                               atol=0, rtol=0)


def test_tool_table_and_clean_row_equal_a_plain_test_run(repo_root, toy,
                                                         tmp_path):
    root, ckpt, options = toy
    out = tmp_path / 'out'
    subprocess.run(
        [sys.executable, 'tools/analysis_tools/eval_modality_robustness.py',
         CONFIG, str(ckpt), '--out-dir', str(out), '--work-dir',
         str(tmp_path / 'w'), '--conditions', 'clean', 'sar_zero',
         'sar_speckle_4', '--cfg-options'] + options,
        cwd=repo_root, check=True, capture_output=True, timeout=900)
    with open(out / 'robustness.csv') as f:
        rows = list(csv.DictReader(f))
    assert [r['condition'] for r in rows] == ['clean', 'sar_zero',
                                              'sar_speckle_4']
    assert 'm4sar/AP50' in rows[0] and 'm4sar/mAP' in rows[0]
    assert (out / 'robustness.png').stat().st_size > 0
    assert '| sar_zero |' in (out / 'robustness.md').read_text()
    # the plain test run of the same checkpoint
    metrics = _runner(repo_root, toy, tmp_path / 'w2').test()
    for key in ('m4sar/AP50', 'm4sar/mAP'):
        assert float(rows[0][key]) == pytest.approx(float(metrics[key]),
                                                    abs=1e-12)


def test_graded_series_reads_the_condition_names(repo_root):
    tool = _tool(repo_root)
    results = {'clean': {'a': 1.0}, 'sar_shift_0.5': {'a': 0.9},
               'sar_shift_2': {'a': 0.5}, 'sar_zero': {'a': 0.1}}
    series = tool.graded_series(results, 'a')
    assert series == {'sar_shift': ([0.5, 2.0], [0.9, 0.5])}
    assert np.isfinite(list(results['clean'].values())).all()
