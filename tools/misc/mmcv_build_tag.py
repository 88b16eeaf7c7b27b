"""Decide how tools/setup_env.sh builds mmcv's ops, and the cache key.

    python tools/misc/mmcv_build_tag.py
    # prints "<torch version> <python tag> <ops tag>"

The ops tag is ``cpu`` or ``cu<CUDA version>-arch<TORCH_CUDA_ARCH_LIST>``.
CUDA ops are built only when torch is a CUDA build, ``nvcc`` exists, and a
GPU is visible or ``MMCV_CUDA=1`` / ``FORCE_CUDA=1`` asks for them. The torch
wheel on PyPI is a CUDA build even on CPU-only machines, and compiling CUDA
ops on a small CPU machine takes hours, so a CUDA wheel alone is not enough.
``MMOSAR_FORCE_CPU_OPS=1`` or ``FORCE_CUDA=0`` forces CPU-only ops.

Runs before mmosar is installed, so it imports nothing from mmosar.
"""
import os
import shutil
import sys
from typing import Mapping, Optional


def use_cuda_ops(cuda_version: Optional[str], nvcc: Optional[str],
                 gpu_visible: bool, environ: Mapping[str, str]) -> bool:
    """Whether to compile mmcv's CUDA ops.

    Args:
        cuda_version: ``torch.version.cuda`` (None for a CPU build of torch).
        nvcc: Path of ``nvcc`` or None.
        gpu_visible: ``torch.cuda.is_available()``.
        environ: The environment variables.
    """
    if cuda_version is None or nvcc is None:
        return False
    if (environ.get('MMOSAR_FORCE_CPU_OPS', '0') == '1'
            or environ.get('FORCE_CUDA') == '0'):
        return False
    requested = (environ.get('MMCV_CUDA', '0') == '1'
                 or environ.get('FORCE_CUDA', '0') == '1')
    return gpu_visible or requested


def build_tag(torch_version: str, cuda_version: Optional[str],
              use_cuda: bool, environ: Mapping[str, str]) -> str:
    """``"<torch> <python> <ops>"`` as used in the wheel cache key."""
    arch = environ.get('TORCH_CUDA_ARCH_LIST', 'auto')
    arch = arch.replace(' ', '_').replace(';', '_')
    ops = f'cu{cuda_version}-arch{arch}' if use_cuda else 'cpu'
    py = f'py{sys.version_info[0]}{sys.version_info[1]}'
    return f'{torch_version.replace("+", "_")} {py} {ops}'


def main() -> None:
    import torch
    cuda = torch.version.cuda
    use_cuda = use_cuda_ops(cuda, shutil.which('nvcc'),
                            torch.cuda.is_available(), os.environ)
    print(build_tag(torch.__version__, cuda, use_cuda, os.environ))


if __name__ == '__main__':
    main()
