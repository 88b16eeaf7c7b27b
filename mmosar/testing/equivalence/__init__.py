"""Number-for-number checks of mmosar's released modes against fixtures.

A fixture folder under ``../shared/equivalence`` (or ``$MMOSAR_EQUIVALENCE``)
holds what a released implementation computed on deterministic weights made by
the folder's ``recipe.py``: ``manifest.json`` (every state-dict entry under its
released name), ``outputs.npz`` (inputs, outputs, losses, gradients) and a
README. A *check* builds the released-name weights with the recipe, converts
them with the method's converter, loads them strictly into mmosar's
released-mode model, runs the stored inputs and records every compared array
in an :class:`EquivalenceReport`.

Each method's check lives in its own module (see ``CHECK_MODULES``) with a
function ``check(fixture: Fixture, report: EquivalenceReport) -> None``.
``tools/analysis_tools/check_equivalence.py NAME`` and the tests both call
:func:`run_check`.

Deviation measure: for an array ``a`` compared with the fixture's ``e``,
``rel = max|a - e| / max(max|e|, floor)``, i.e. the worst absolute error
relative to the array's scale (``floor`` = 1e-12 keeps all-zero arrays
meaningful). Integer and boolean arrays must be equal.
"""
import importlib
import importlib.util
import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, List, Mapping, Optional, Union

import numpy as np

#: Fixture name prefix -> module holding its ``check`` (longest prefix wins).
CHECK_MODULES: Dict[str, str] = {
    'm4sar/baselines': 'mmosar.testing.equivalence.m4sar_baselines',
    'm4sar': 'mmosar.testing.equivalence.m4sar',
    'transoss': 'mmosar.testing.equivalence.transoss',
    'cmpc': 'mmosar.testing.equivalence.cmpc',
    'sdconet': 'mmosar.testing.equivalence.sdconet',
    'ifkd': 'mmosar.testing.equivalence.ifkd',
    'mmrotate': 'mmosar.testing.equivalence.mmrotate',
}

DEFAULT_RTOL = 1e-6


def equivalence_root() -> Path:
    """Where the fixtures live: ``$MMOSAR_EQUIVALENCE`` or
    ``<repository>/../shared/equivalence``."""
    env = os.environ.get('MMOSAR_EQUIVALENCE')
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[3]
    return repo.parent / 'shared' / 'equivalence'


def load_recipe(root: Optional[Path] = None) -> ModuleType:
    """Import the fixtures' ``recipe.py`` (data beside the fixtures, never
    part of mmosar)."""
    root = Path(root or equivalence_root())
    path = root / 'recipe.py'
    if not path.is_file():
        raise FileNotFoundError(f'{path}: equivalence recipe not found')
    spec = importlib.util.spec_from_file_location('mmosar_equivalence_recipe',
                                                  path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Fixture:
    """One fixture folder: manifest, stored arrays and the recipe."""

    name: str
    root: Path

    @classmethod
    def load(cls, name: str, root: Optional[Path] = None) -> 'Fixture':
        """Open fixture ``name`` (e.g. ``'m4sar'``,
        ``'mmrotate/rotated_rtmdet_tiny-3x-dota'``)."""
        base = Path(root or equivalence_root())
        folder = base / name
        if not (folder / 'manifest.json').is_file():
            raise FileNotFoundError(
                f'{folder}: no equivalence fixture (manifest.json) here; '
                f'fixtures live in {base} (set MMOSAR_EQUIVALENCE)')
        return cls(name=name, root=folder)

    @cached_property
    def manifest(self) -> Dict[str, Any]:
        with open(self.root / 'manifest.json') as f:
            return json.load(f)

    @cached_property
    def outputs(self) -> Mapping[str, np.ndarray]:
        return np.load(self.root / 'outputs.npz', allow_pickle=False)

    @cached_property
    def recipe(self) -> ModuleType:
        base = self.root
        while not (base / 'recipe.py').is_file() and base != base.parent:
            base = base.parent
        return load_recipe(base)

    def released_state_dict(self) -> Dict[str, Any]:
        """Released-name weights from the recipe (torch tensors)."""
        return self.recipe.make_state_dict(self.manifest)

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self.outputs:
            raise KeyError(f'{self.root / "outputs.npz"} has no array {key!r}')
        return self.outputs[key]

    def __contains__(self, key: str) -> bool:
        return key in self.outputs


@dataclass
class Comparison:
    key: str
    rel: float
    abs: float
    tol: float
    shape: tuple
    note: str = ''

    @property
    def ok(self) -> bool:
        return bool(np.isfinite(self.rel) and self.rel <= self.tol)


@dataclass
class EquivalenceReport:
    """Worst deviation per compared key, and the verdict."""

    name: str
    rtol: float = DEFAULT_RTOL
    comparisons: List[Comparison] = field(default_factory=list)

    def compare(self,
                key: str,
                actual: Any,
                expected: Union[np.ndarray, Any],
                rtol: Optional[float] = None,
                note: str = '') -> Comparison:
        """Compare ``actual`` (tensor or array) with ``expected``.

        Shapes must match exactly; integer / boolean arrays must be equal
        (``rel`` is then the fraction of differing elements).
        """
        a = _to_numpy(actual)
        e = _to_numpy(expected)
        tol = self.rtol if rtol is None else rtol
        if a.shape != e.shape:
            comp = Comparison(key, float('inf'), float('inf'), tol,
                              tuple(e.shape),
                              f'shape {a.shape} vs fixture {e.shape}')
        elif e.dtype.kind in 'biu' and a.dtype.kind in 'biu':
            diff = a.astype(np.int64) != e.astype(np.int64)
            frac = float(diff.mean()) if diff.size else 0.0
            comp = Comparison(key, frac, float(diff.sum()), 0.0, e.shape,
                              note or 'exact')
        else:
            a64 = a.astype(np.float64)
            e64 = e.astype(np.float64)
            nan_a, nan_e = np.isnan(a64), np.isnan(e64)
            finite = ~(nan_a | nan_e)
            diff = np.abs(a64[finite] - e64[finite])
            err = float(diff.max()) if diff.size else 0.0
            if not np.array_equal(nan_a, nan_e):  # NaN where the other is not
                err = float('inf')
            scale = float(np.abs(e64[~nan_e]).max()) if (~nan_e).any() else 0.0
            rel = err / max(scale, 1e-12)
            comp = Comparison(key, rel, err, tol, e.shape, note)
        self.comparisons.append(comp)
        return comp

    @property
    def ok(self) -> bool:
        return bool(self.comparisons) and all(c.ok for c in self.comparisons)

    def failures(self) -> List[Comparison]:
        return [c for c in self.comparisons if not c.ok]

    def format(self) -> str:
        """A table of every key and a one-line summary."""
        width = max([len(c.key) for c in self.comparisons] + [3])
        lines = [f'{"key":<{width}}  {"worst rel":>10}  {"max abs":>10}'
                 f'  {"tol":>8}  ok']
        for c in self.comparisons:
            lines.append(f'{c.key:<{width}}  {c.rel:10.3e}  {c.abs:10.3e}  '
                         f'{c.tol:8.1e}  {"yes" if c.ok else "NO"}'
                         + (f'  {c.note}' if c.note else ''))
        lines.append(self.summary())
        return '\n'.join(lines)

    def summary(self) -> str:
        n = len(self.comparisons)
        bad = len(self.failures())
        worst = max((c.rel for c in self.comparisons if c.tol > 0),
                    default=0.0)
        verdict = 'PASS' if self.ok else 'FAIL'
        return (f'{verdict} {self.name}: {n - bad}/{n} keys within tolerance,'
                f' worst relative deviation {worst:.3e}')


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, 'detach'):
        x = x.detach().cpu()
        if hasattr(x, 'is_floating_point') and x.dtype.is_complex:
            return x.numpy()
        return x.numpy()
    return np.asarray(x)


def check_module(name: str) -> ModuleType:
    """The module that checks fixture ``name`` (longest prefix match)."""
    for prefix in sorted(CHECK_MODULES, key=len, reverse=True):
        if name == prefix or name.startswith(prefix + '/'):
            return importlib.import_module(CHECK_MODULES[prefix])
    raise KeyError(f'no equivalence check for fixture {name!r}; known '
                   f'prefixes: {sorted(CHECK_MODULES)}')


def run_check(name: str,
              root: Optional[Path] = None,
              rtol: float = DEFAULT_RTOL) -> EquivalenceReport:
    """Run the check of fixture ``name`` and return its report."""
    fixture = Fixture.load(name, root)
    report = EquivalenceReport(name=name, rtol=rtol)
    check_module(name).check(fixture, report)
    return report


def fixture_or_skip(name: str) -> Fixture:
    """For tests: the fixture, or ``pytest.skip`` naming where it was
    looked for."""
    import pytest
    try:
        return Fixture.load(name)
    except FileNotFoundError as error:
        pytest.skip(f'equivalence fixture absent: {error}')
