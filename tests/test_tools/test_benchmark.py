"""tools/analysis_tools/benchmark.py: the timer against a known delay, and
the tool on a paired and a single-image detector."""
import importlib.util
import json
import subprocess
import sys
import time

import pytest
from mmengine.config import Config


@pytest.fixture
def tool(repo_root):
    path = repo_root / 'tools' / 'analysis_tools' / 'benchmark.py'
    spec = importlib.util.spec_from_file_location('benchmark_tool', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_timer_measures_a_known_delay(tool):
    calls = []

    def step():
        calls.append(1)
        time.sleep(0.03)

    t = tool.time_calls(step, warmup=2, repeat=3)
    assert len(calls) == 5
    assert 0.03 <= t['wall'] < 0.2
    assert t['cpu'] < 0.02  # sleeping costs no CPU
    with pytest.raises(ValueError, match='at least 1'):
        tool.time_calls(step, 0, 0)


@pytest.mark.parametrize('config, bands, rbox', [
    ('configs/e2e_osdet/e2e-osdet_yolo11n-obb_toy_m4sar.py', 6, True),
    ('configs/rotated_retinanet/'
     'rotated-retinanet-rbox-le90_r18_fpn_toy_hrsid.py', 3, True),
])
def test_tool_reads_bands_and_times_train_and_test(tool, repo_root, tmp_path,
                                                   config, bands, rbox):
    cfg = Config.fromfile(repo_root / config)
    assert sum(tool.input_channels(cfg).values()) == bands
    assert tool.trains_on_rboxes(cfg) is rbox
    out = tmp_path / 'speed.json'
    subprocess.run(
        [sys.executable, 'tools/analysis_tools/benchmark.py', config,
         '--shape', '128', '--warmup', '0', '--repeat', '1', '--train',
         '--json', str(out)], cwd=repo_root, check=True,
        capture_output=True, timeout=600)
    figures = json.loads(out.read_text())
    assert figures['bands'] == bands
    assert (figures['height'], figures['width']) == (128, 128)
    from mmosar.registry import MODELS
    params = sum(p.numel() for p in MODELS.build(cfg.model).parameters())
    assert figures['params_m'] == pytest.approx(params / 1e6)
    assert figures['latency_ms'] > 0 and figures['train_step_s'] > 0
    assert 0 < figures['network_ms'] < figures['latency_ms'] * 1.5
