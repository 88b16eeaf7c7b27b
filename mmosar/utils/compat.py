"""Fixes for upstream OpenMMLab code on the current stack, all in one place.

Applied once by :func:`apply_upstream_fixes` when ``mmosar`` is imported. Each
fix names the upstream problem it works around and has a test in
``tests/test_utils/test_compat.py`` that fails without it.

1. **Safe checkpoint loading on torch >= 2.6.** ``torch.load`` defaults to
   ``weights_only=True`` there, and mmengine 0.10.7 checkpoints pickle a
   ``HistoryBuffer`` (with numpy arrays and bound statistics methods) in the
   message hub, so ``load_checkpoint``, ``load_from`` and ``resume`` fail with
   ``UnpicklingError: Unsupported global``. We keep ``weights_only=True`` and
   allow-list exactly the types such checkpoints hold (see
   :data:`CHECKPOINT_SAFE_GLOBALS`), plus a ``getattr`` restricted to
   ``HistoryBuffer``'s statistics methods. A checkpoint that pickles anything
   else is refused with :class:`UnsafeCheckpointError`, which names the file
   and the offending global. Nothing sets ``weights_only=False``.
2. **numpy >= 2.4 removals.** mmpretrain 1.2.0's ``RetrievalRecall`` and
   ``RetrievalAveragePrecision`` call ``np.in1d`` (removed in numpy 2.4). The
   module gets a numpy namespace in which ``in1d`` is ``np.isin``. mmdet 3.3's
   detection paths and mmengine 0.10.7 use no removed name; mmosar's own code
   uses ``np.isin`` / ``np.trapezoid``.
3. **Distributed training without GPUs.** mmengine 0.10.7's pytorch launcher
   calls ``torch.cuda.set_device`` unconditionally and the runner passes
   ``device_ids=[LOCAL_RANK]`` to DDP, so ``tools/dist_train.sh CONFIG 2``
   fails on a CPU machine. Without CUDA the launcher now skips
   ``set_device``, uses the ``gloo`` backend (configs say ``nccl`` for GPU
   clusters), and DDP gets no ``device_ids`` for a CPU module. With CUDA,
   mmengine's code runs unchanged.
4. **Rotated NMS in mmdet heads.** mmcv 2.1's ``box_iou_rotated`` kernel is
   wrong for boxes with parallel sides on a common line (a box and the same
   box slid along one side): e.g. IoU 0 instead of 0.90, so
   ``nms=dict(type='nms_rotated')`` in a head's ``test_cfg`` (mmcv's
   ``batched_nms``) can keep duplicates. ``batched_nms`` resolves the
   ``type`` in ``mmcv.ops.nms``'s namespace; ``nms_rotated`` there becomes
   :func:`mmosar.structures.bbox.nms_rotated_exact`, which computes those
   pairs exactly and keeps mmcv's kernel for the rest.
"""
import functools
import pickle
import re
import sys
import types
from typing import Any, Callable, List, Tuple, Union

import numpy as np
import torch
from mmengine.dist import utils as dist_utils
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.model.wrappers import MMDistributedDataParallel
from mmengine.runner.checkpoint import CheckpointLoader


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint pickles a global outside mmosar's allow-list."""


# ---------------------------------------------------------------------------
# 1. checkpoints
# ---------------------------------------------------------------------------
_STATISTICS_METHODS = ('min', 'max', 'current', 'mean')


def _history_buffer_getattr(obj: Any, name: str) -> Callable:
    """``getattr`` as seen by the unpickler: HistoryBuffer statistics only.

    mmengine pickles ``HistoryBuffer._statistics_methods`` (a dict of plain
    functions such as ``HistoryBuffer.min``) as ``getattr(HistoryBuffer,
    'min')``. Any other use of ``getattr`` in a checkpoint is refused, since a
    free ``getattr`` lets a pickle reach arbitrary objects.
    """
    allowed = set(_STATISTICS_METHODS) | set(HistoryBuffer._statistics_methods)
    if obj is HistoryBuffer and name in allowed:
        return getattr(HistoryBuffer, name)
    owner = getattr(obj, '__qualname__', type(obj).__qualname__)
    raise UnsafeCheckpointError(
        f'getattr({owner}, {name!r}) is not an allowed global '
        '(only HistoryBuffer statistics methods are)')


def _numpy_dtype_classes() -> List[type]:
    classes = []
    for name in dir(np.dtypes):
        value = getattr(np.dtypes, name)
        if isinstance(value, type) and issubclass(value, np.dtype):
            classes.append(value)
    return classes


def _checkpoint_safe_globals() -> List[Union[Callable, Tuple[Callable, str]]]:
    reconstruct = np._core.multiarray._reconstruct
    scalar = np._core.multiarray.scalar
    allowed: List[Union[Callable, Tuple[Callable, str]]] = [
        HistoryBuffer,
        np.ndarray,
        np.dtype,
        reconstruct,
        scalar,
        # checkpoints written under numpy 1.x name the same functions
        # through numpy.core
        (reconstruct, 'numpy.core.multiarray._reconstruct'),
        (scalar, 'numpy.core.multiarray.scalar'),
        (_history_buffer_getattr, 'builtins.getattr'),
    ]
    allowed.extend(_numpy_dtype_classes())
    return allowed


#: Globals an mmengine checkpoint may hold besides torch's own defaults.
CHECKPOINT_SAFE_GLOBALS = _checkpoint_safe_globals()

_GLOBAL_PATTERN = re.compile(r'GLOBAL ([\w.]+)|getattr\([^)]*\)')


def _offending_global(message: str) -> str:
    match = _GLOBAL_PATTERN.search(message)
    if match is None:
        return 'an object outside the allow-list'
    return match.group(1) or match.group(0)


def guard_checkpoint_loader(loader: Callable) -> Callable:
    """Wrap an mmengine checkpoint loader with the allow-list.

    Args:
        loader (Callable): ``loader(filename, map_location)`` as registered in
            :class:`mmengine.runner.CheckpointLoader`.

    Returns:
        Callable: the same loader, run with :data:`CHECKPOINT_SAFE_GLOBALS`
        allowed and turning a refused global into
        :class:`UnsafeCheckpointError`.
    """
    if getattr(loader, '_mmosar_guarded', False):
        return loader

    @functools.wraps(loader)
    def guarded(filename, map_location=None, *args, **kwargs):
        with torch.serialization.safe_globals(CHECKPOINT_SAFE_GLOBALS):
            try:
                return loader(filename, map_location, *args, **kwargs)
            except pickle.UnpicklingError as error:
                if isinstance(error, UnsafeCheckpointError):
                    raise
                offending = _offending_global(str(error))
                raise UnsafeCheckpointError(
                    f'Refusing to load checkpoint "{filename}": it pickles '
                    f'{offending}, which is not on mmosar\'s allow-list of '
                    'checkpoint types (tensors, containers, numpy arrays, '
                    'dtypes and scalars, mmengine HistoryBuffer). Loading it '
                    'could run arbitrary code. If you trust the file, load it '
                    'yourself with torch.load(..., weights_only=False) and '
                    're-save its state_dict.') from error

    guarded._mmosar_guarded = True
    return guarded


def _guard_all_checkpoint_loaders() -> None:
    for prefix, loader in list(CheckpointLoader._schemes.items()):
        CheckpointLoader.register_scheme(
            prefix, guard_checkpoint_loader(loader), force=True)


# ---------------------------------------------------------------------------
# 2. numpy >= 2.4
# ---------------------------------------------------------------------------
def numpy_with_removed_aliases() -> types.ModuleType:
    """A stand-in for the ``numpy`` module that still has ``in1d``.

    Only used as the ``np`` global of upstream modules that need it; numpy
    itself is never modified.
    """
    if hasattr(np, 'in1d'):
        return np
    shim = types.ModuleType('numpy', doc='numpy with removed aliases')
    shim.__dict__.update(np.__dict__)
    shim.in1d = lambda ar1, ar2, assume_unique=False, invert=False: np.isin(
        np.ravel(ar1), ar2, assume_unique=assume_unique, invert=invert)
    return shim


def _fix_mmpretrain_retrieval_metrics() -> None:
    try:
        from mmpretrain.evaluation.metrics import retrieval
    except ImportError:
        # mmpretrain (or the torchvision its metrics import) is absent:
        # nothing to fix
        return
    retrieval.np = numpy_with_removed_aliases()


# ---------------------------------------------------------------------------
# 3. distributed training on CPU
# ---------------------------------------------------------------------------
def _patch_cpu_distributed() -> None:
    init_on_gpu = dist_utils._init_dist_pytorch

    @functools.wraps(init_on_gpu)
    def init_dist_pytorch(backend: str, init_backend: str = 'torch',
                          **kwargs) -> None:
        if torch.cuda.is_available() or init_backend != 'torch':
            return init_on_gpu(backend, init_backend, **kwargs)
        if backend == 'nccl':
            backend = 'gloo'  # nccl needs GPUs; gloo runs on CPU
        torch.distributed.init_process_group(backend=backend, **kwargs)

    dist_utils._init_dist_pytorch = init_dist_pytorch

    ddp_init = MMDistributedDataParallel.__init__

    @functools.wraps(ddp_init)
    def init_ddp(self, module: torch.nn.Module, *args, **kwargs) -> None:
        on_cpu = all(p.device.type == 'cpu' for p in module.parameters())
        if on_cpu:
            # torch refuses device_ids for CPU modules
            kwargs.pop('device_ids', None)
            kwargs.pop('output_device', None)
        ddp_init(self, module, *args, **kwargs)

    MMDistributedDataParallel.__init__ = init_ddp


# ---------------------------------------------------------------------------
# 4. rotated NMS with exact IoU
# ---------------------------------------------------------------------------
def _use_exact_rotated_nms() -> None:
    from .setup_env import mmcv_ops_available
    if not mmcv_ops_available():  # the tools report this with instructions
        return
    import mmcv.ops  # noqa: F401  (loads the module mmcv.ops.nms)

    from mmosar.structures.bbox import nms_rotated_exact

    # `mmcv.ops.nms` as an attribute is the nms function: take the module
    sys.modules['mmcv.ops.nms'].nms_rotated = nms_rotated_exact


_APPLIED = False


def apply_upstream_fixes() -> None:
    """Apply every fix of this module once (idempotent)."""
    global _APPLIED
    if _APPLIED:
        return
    _guard_all_checkpoint_loaders()
    _fix_mmpretrain_retrieval_metrics()
    _patch_cpu_distributed()
    _use_exact_rotated_nms()
    _APPLIED = True
