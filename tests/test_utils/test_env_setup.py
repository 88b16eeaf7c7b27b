"""tools/setup_env.sh's mmcv build decision and the environment report."""
import importlib.util
import subprocess
import sys

import pytest

from mmosar.utils import collect_env


def _build_tag_module(repo_root):
    path = repo_root / 'tools' / 'misc' / 'mmcv_build_tag.py'
    spec = importlib.util.spec_from_file_location('mmcv_build_tag', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    'cuda, nvcc, gpu, env, expected',
    [
        # CPU torch: never CUDA ops, whatever is asked
        (None, '/usr/bin/nvcc', True, {'FORCE_CUDA': '1'}, False),
        # CUDA wheel + nvcc on a CPU-only machine: CPU ops (the case here)
        ('13.0', '/usr/bin/nvcc', False, {}, False),
        # ... unless asked for
        ('13.0', '/usr/bin/nvcc', False, {'MMCV_CUDA': '1'}, True),
        ('13.0', '/usr/bin/nvcc', False, {'FORCE_CUDA': '1'}, True),
        # a visible GPU builds CUDA ops
        ('13.0', '/usr/bin/nvcc', True, {}, True),
        # no nvcc: nothing to build them with
        ('13.0', None, True, {'MMCV_CUDA': '1'}, False),
        # explicit refusals win over a visible GPU
        ('13.0', '/usr/bin/nvcc', True, {'FORCE_CUDA': '0'}, False),
        ('13.0', '/usr/bin/nvcc', True, {'MMOSAR_FORCE_CPU_OPS': '1'}, False),
    ])
def test_cuda_ops_only_with_a_gpu_or_on_request(repo_root, cuda, nvcc, gpu,
                                                env, expected):
    module = _build_tag_module(repo_root)
    assert module.use_cuda_ops(cuda, nvcc, gpu, env) is expected


def test_build_tag_keys_the_wheel_cache(repo_root):
    module = _build_tag_module(repo_root)
    py = f'py{sys.version_info[0]}{sys.version_info[1]}'
    assert module.build_tag('2.14.1+cu130', '13.0', False, {}) == \
        f'2.14.1_cu130 {py} cpu'
    assert module.build_tag('2.14.1+cu130', '13.0', True,
                            {'TORCH_CUDA_ARCH_LIST': '8.0;9.0'}) == \
        f'2.14.1_cu130 {py} cu13.0-arch8.0_9.0'


def test_environment_report_names_the_stack():
    import torch
    import torchvision
    info = collect_env.collect_env()
    assert info['torch build'].startswith(torch.__version__)
    expected_build = ('CPU-only build' if torch.version.cuda is None else
                      f'CUDA {torch.version.cuda} build')
    assert expected_build in info['torch build']
    assert info['torchvision'] == torchvision.__version__
    assert info['mmpretrain.models'] == 'imports'
    assert info['mmpretrain.evaluation'] == 'imports'
    assert info['mmcv ops'].startswith('compiled (CPU')
    for name in ('mmengine', 'mmcv', 'mmdet', 'mmpretrain'):
        assert info[name][0].isdigit(), (name, info[name])


def test_environment_report_command_prints_it(repo_root):
    result = subprocess.run(
        [sys.executable, 'tools/misc/collect_env.py'], cwd=repo_root,
        capture_output=True, text=True, timeout=300, check=True)
    assert 'mmpretrain.models: imports' in result.stdout
    assert 'torch build: ' in result.stdout
