"""Environment report: ``python -m mmosar.utils.collect_env``.

Prints Python, torch (and which build: CUDA or CPU, and whether a GPU is
visible), torchvision, the OpenMMLab packages, whether mmpretrain's models
and metrics import, whether mmcv's ops are compiled (and for which devices)
and the numpy / opencv / shapely versions.
"""
import importlib
from collections import OrderedDict
from typing import Dict

from mmengine.utils import get_git_hash
from mmengine.utils.dl_utils import collect_env as collect_base_env


def _version(module_name: str) -> str:
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # report, never crash the report
        return f'not importable ({type(error).__name__}: {error})'
    return getattr(module, '__version__', 'unknown')


def torch_build_report() -> str:
    """Which torch build this is and whether it sees a GPU.

    Returns:
        str: e.g. ``'2.14.1+cu130: CUDA 13.0 build, no GPU visible (runs on
        the CPU)'``.
    """
    import torch
    if torch.version.cuda is None:
        build = 'CPU-only build'
    else:
        build = f'CUDA {torch.version.cuda} build'
    if torch.cuda.is_available():
        gpus = ', '.join(
            torch.cuda.get_device_name(i)
            for i in range(torch.cuda.device_count()))
        where = f'GPU visible: {gpus}'
    else:
        where = 'no GPU visible (runs on the CPU)'
    return f'{torch.__version__}: {build}, {where}'


def import_report(module_name: str) -> str:
    """``'imports'`` or why ``module_name`` does not import."""
    try:
        importlib.import_module(module_name)
    except Exception as error:  # report, never crash the report
        return f'does NOT import ({type(error).__name__}: {error})'
    return 'imports'


def mmcv_ops_report() -> str:
    """Describe the state of mmcv's compiled ops.

    Returns:
        str: ``'compiled (CPU)'``, ``'compiled (CPU + CUDA)'`` or why not.
    """
    from .setup_env import mmcv_ops_available
    if not mmcv_ops_available():
        return 'NOT usable (mmcv._ext does not import): run tools/setup_env.sh'
    try:
        import torch
        from mmcv.ops import box_iou_rotated
        boxes = torch.tensor([[5., 5., 4., 2., 0.3]])
        box_iou_rotated(boxes, boxes)
        devices = 'CPU'
        if torch.cuda.is_available():
            box_iou_rotated(boxes.cuda(), boxes.cuda())
            devices += ' + CUDA'
    except Exception as error:
        return f'compiled but failing ({type(error).__name__}: {error})'
    return f'compiled ({devices})'


def collect_env() -> Dict[str, str]:
    """Collect the environment as an ordered dict of name -> description."""
    env_info = OrderedDict(collect_base_env())
    env_info.pop('PyTorch compiling details', None)  # pages of build flags
    env_info['torch build'] = torch_build_report()
    for name in ('torchvision', 'numpy', 'cv2', 'shapely', 'mmengine', 'mmcv',
                 'mmdet', 'mmpretrain'):
        env_info[name if name != 'cv2' else 'opencv'] = _version(name)
    for name in ('mmpretrain.models', 'mmpretrain.evaluation'):
        env_info[name] = import_report(name)
    env_info['mmcv ops'] = mmcv_ops_report()
    mmosar_version = _version('mmosar')
    try:
        mmosar_version += '+' + get_git_hash()[:7]
    except Exception:  # not a git checkout (e.g. a wheel install)
        pass
    env_info['mmosar'] = mmosar_version
    return env_info


def main() -> None:
    for name, value in collect_env().items():
        print(f'{name}: {value}')


if __name__ == '__main__':
    main()
