"""Read the tensors of an Ultralytics checkpoint without running its code.

An Ultralytics ``best.pt`` / ``last.pt`` is a pickled dict whose ``model``
and ``ema`` entries are whole ``nn.Module`` objects of the fork's classes
(``ultralytics.nn.tasks.OBBModel``, ``ultralytics.nn.modules.block.C3k2``,
...). ``torch.load`` with ``weights_only=False`` would import those classes
(the released repository must then be installed) and lets any global in the
file run. :func:`load_ultralytics_state_dict` instead unpickles with
:class:`InertUnpickler`:

* tensor / storage rebuilders, ``torch.Size``, dtypes, devices,
  ``collections.OrderedDict`` and plain builtin containers are allowed;
* every class of the model namespaces (:data:`INERT_NAMESPACES`:
  ``ultralytics.*``, ``torch.nn.*``, ``timm.*``, ...) becomes an
  :class:`InertObject` subclass that only stores its pickled state;
* any other global (``os.system``, ``builtins.eval``, ``subprocess.*``...)
  is refused with :class:`UnsafeCheckpointError` naming it.

The module tree is then walked through the inert objects' ``_parameters``,
``_buffers`` and ``_modules`` entries, which gives exactly
``module.state_dict()`` of the released model.
"""
import _compat_pickle
import io
import pickle
import types
from collections import OrderedDict
from pathlib import Path
from typing import Any, Dict, Tuple, Union

import torch

#: Module prefixes whose classes are replaced by inert containers.
INERT_NAMESPACES: Tuple[str, ...] = ('ultralytics', 'torch.nn', 'timm',
                                     'mamba_ssm', 'einops', 'functools',
                                     'pathlib', 'argparse', 'types',
                                     'datetime')

#: Globals that are data constructors (no side effects), allowed as is.
SAFE_GLOBALS: Dict[Tuple[str, str], Any] = {
    ('collections', 'OrderedDict'): OrderedDict,
    ('torch', 'Size'): torch.Size,
    ('torch', 'device'): torch.device,
    ('torch._utils', '_rebuild_tensor'): torch._utils._rebuild_tensor,
    ('torch._utils', '_rebuild_tensor_v2'): torch._utils._rebuild_tensor_v2,
    ('torch._utils', '_rebuild_parameter'): torch._utils._rebuild_parameter,
    ('torch._utils', '_rebuild_parameter_with_state'):
    torch._utils._rebuild_parameter_with_state,
    ('copyreg', '_reconstructor'): None,  # filled below (object only)
    ('builtins', 'object'): object,
    ('builtins', 'set'): set,
    ('builtins', 'frozenset'): frozenset,
    ('builtins', 'dict'): dict,
    ('builtins', 'list'): list,
    ('builtins', 'tuple'): tuple,
    ('builtins', 'complex'): complex,
    ('builtins', 'slice'): slice,
}


class UnsafeCheckpointError(pickle.UnpicklingError):
    """The checkpoint references a global that is neither data nor part of
    the model namespaces."""


class InertObject:
    """Stand-in for a class of the released code: keeps its pickled state.

    ``__class_path__`` is the released ``module.qualname``; ``__state__``
    what ``__setstate__`` received; ``__args__`` the arguments it was called
    or reconstructed with. Attribute state that is a dict is also exposed as
    attributes (``obj._modules`` etc.).
    """

    __class_path__ = '?'

    def __init__(self, *args, **kwargs) -> None:
        self.__dict__['__args__'] = (args, kwargs)

    def __setstate__(self, state: Any) -> None:
        self.__dict__['__state__'] = state
        if isinstance(state, tuple) and len(state) == 2 and isinstance(
                state[1], dict):  # (dict, slots)
            state = {**(state[0] or {}), **state[1]}
        if isinstance(state, dict):
            self.__dict__.update(state)

    def __repr__(self) -> str:
        return f'<inert {self.__class_path__}>'


def _reconstructor(cls: type, base: type, state: Any) -> Any:
    """``copyreg._reconstructor`` limited to inert classes on ``object``."""
    if not (isinstance(cls, type) and issubclass(cls, InertObject)
            and base is object and state is None):
        raise UnsafeCheckpointError(
            f'copyreg._reconstructor({cls!r}, {base!r}) refused: only inert '
            'model classes may be reconstructed')
    return object.__new__(cls)


SAFE_GLOBALS[('copyreg', '_reconstructor')] = _reconstructor


class InertUnpickler(pickle.Unpickler):
    """Unpickler that never imports or calls code of the checkpoint."""

    _inert_classes: Dict[str, type] = {}

    def find_class(self, module: str, name: str) -> Any:
        # protocol < 3 names (``__builtin__.set``, ``copy_reg``), as the
        # default ``find_class`` maps them
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        key = (module, name)
        if key in SAFE_GLOBALS:
            return SAFE_GLOBALS[key]
        if module == 'torch' and isinstance(getattr(torch, name, None),
                                            torch.dtype):
            return getattr(torch, name)
        if any(module == ns or module.startswith(ns + '.')
               for ns in INERT_NAMESPACES):
            path = f'{module}.{name}'
            if path not in self._inert_classes:
                self._inert_classes[path] = type(
                    name, (InertObject, ), dict(__class_path__=path))
            return self._inert_classes[path]
        raise UnsafeCheckpointError(
            f'checkpoint references the global {module}.{name}, which is '
            'neither tensor data nor a model class: refused (it could run '
            'code)')


#: ``pickle_module`` for ``torch.load``: torch subclasses ``Unpickler`` and
#: resolves tensor storages itself, everything else goes through
#: :meth:`InertUnpickler.find_class`.
inert_pickle = types.SimpleNamespace(
    Unpickler=InertUnpickler,
    load=lambda f, **kw: InertUnpickler(f, **kw).load(),
    __name__='mmosar_inert_pickle')


def load_inert(path: Union[str, Path]) -> Any:
    """``torch.load`` of ``path`` with :class:`InertUnpickler` (CPU)."""
    with open(path, 'rb') as f:
        data = f.read()
    try:
        return torch.load(
            io.BytesIO(data),
            map_location='cpu',
            weights_only=False,
            pickle_module=inert_pickle)
    except UnsafeCheckpointError as error:
        raise UnsafeCheckpointError(f'{path}: {error}') from None


def module_state_dict(module: Any, prefix: str = '') -> 'OrderedDict':
    """``state_dict()`` of an (inert) pickled ``nn.Module`` tree.

    Parameters and persistent buffers, in registration order, with
    ``.``-joined names; tensors are detached.
    """
    out = OrderedDict()
    state = vars(module)
    missing = [k for k in ('_parameters', '_buffers', '_modules')
               if k not in state]
    if missing:
        raise ValueError(f'{prefix or "<root>"}: {module!r} is not a pickled '
                         f'nn.Module (no {missing})')
    for name, param in state['_parameters'].items():
        if param is not None:
            out[prefix + name] = param.detach()
    skip = state.get('_non_persistent_buffers_set', set())
    for name, buf in state['_buffers'].items():
        if buf is not None and name not in skip:
            out[prefix + name] = buf.detach()
    for name, child in state['_modules'].items():
        if child is not None:
            out.update(module_state_dict(child, f'{prefix}{name}.'))
    return out


def load_ultralytics_state_dict(
        path: Union[str, Path]) -> Tuple['OrderedDict', str]:
    """Released-name weights of a checkpoint, without the released code.

    Accepts an Ultralytics checkpoint (dict with ``ema`` / ``model`` module
    objects: ``ema`` is used when present, as Ultralytics does) or a plain
    state dict ``{name: tensor}`` (optionally under ``state_dict``).

    Returns:
        tuple: (state dict in released names, floating tensors as float32;
        which entry it came from: ``'ema'``, ``'model'`` or
        ``'state_dict'``).
    """
    ckpt = load_inert(path)
    source = 'state_dict'
    if isinstance(ckpt, dict) and ckpt.get('ema') is not None:
        ckpt, source = module_state_dict(ckpt['ema']), 'ema'
    elif isinstance(ckpt, dict) and ckpt.get('model') is not None and not (
            isinstance(ckpt['model'], torch.Tensor)):
        ckpt, source = module_state_dict(ckpt['model']), 'model'
    elif isinstance(ckpt, dict) and isinstance(ckpt.get('state_dict'), dict):
        ckpt = ckpt['state_dict']
    if not isinstance(ckpt, dict) or not all(
            isinstance(v, torch.Tensor) for v in ckpt.values()):
        raise ValueError(f'{path}: neither an Ultralytics checkpoint (ema / '
                         'model module) nor a state dict of tensors')
    return OrderedDict(
        (k, v.float() if v.is_floating_point() else v)
        for k, v in ckpt.items()), source
