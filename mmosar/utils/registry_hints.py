"""Friendlier errors for unknown registry types in configs."""
import contextlib
import difflib
import re
from typing import Iterator, List, Optional

from mmengine.registry import Registry

_UNKNOWN_TYPE = re.compile(
    r'(?P<type>\S+) is not in the (?:(?P<scope>[\w.-]+)::)?'
    r'(?P<name>[\w ]+?) registry')


def _find_registry(scope: Optional[str], name: str) -> Optional[Registry]:
    import mmosar.registry as mmosar_registry
    for value in vars(mmosar_registry).values():
        if not isinstance(value, Registry):
            continue
        registry = value
        while registry is not None:
            if registry.name == name and scope in (None, registry.scope):
                return value
            registry = registry.parent
    return None


def registered_names(registry: Registry) -> List[str]:
    """Names visible from ``registry``: its own and its parents' modules."""
    names: List[str] = []
    while registry is not None:
        names.extend(registry.module_dict)
        registry = registry.parent
    return names


def suggest_names(registry: Registry, wanted: str, n: int = 5) -> List[str]:
    """Registered names closest to ``wanted`` (case-insensitive)."""
    names = registered_names(registry)
    lowered = {name.lower(): name for name in names}
    close = difflib.get_close_matches(
        wanted.split('.')[-1].lower(), list(lowered), n=n, cutoff=0.5)
    return [lowered[name] for name in close]


@contextlib.contextmanager
def unknown_type_hints() -> Iterator[None]:
    """Re-raise "X is not in the registry" errors with close names.

    The message names the type, the registry (scope and node) and the
    closest registered names, e.g. ``'RotatedRetinaHed' is not in the
    mmosar::model registry. Did you mean: RotatedRetinaHead?``.
    """
    try:
        yield
    except KeyError as error:
        message = str(error.args[0]) if error.args else ''
        match = _UNKNOWN_TYPE.search(message)
        if match is None:
            raise
        registry = _find_registry(match['scope'], match['name'])
        where = f'{match["scope"] or "mmosar"}::{match["name"]}'
        hint = ''
        if registry is not None:
            close = suggest_names(registry, match['type'])
            hint = (f' Did you mean: {", ".join(close)}?'
                    if close else ' No registered name is close to it.')
        raise KeyError(
            f'Unknown type "{match["type"]}": it is not in the {where} '
            f'registry.{hint} Check the '
            '`type` in your config, and that the module defining it is '
            'imported (custom_imports) or registered.') from error
