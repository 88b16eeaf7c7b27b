"""Check a released mode of mmosar against an equivalence fixture.

    python tools/analysis_tools/check_equivalence.py NAME \
        [--root DIR] [--rtol R]

NAME is a fixture folder under ``../shared/equivalence`` (``m4sar``,
``m4sar/baselines/CFT``, ``transoss``, ``cmpc``, ``sdconet``, ``ifkd``,
``mmrotate/<config>``). The check builds the released-name weights from the
manifest with the fixture's ``recipe.py``, converts them with the method's
converter, loads them strictly into the released-mode model, runs the stored
inputs, prints the worst relative deviation per key and a one-line summary.
Exit status 0 only when every key is within tolerance.
"""
import argparse
import sys
from pathlib import Path

from mmosar.testing.equivalence import DEFAULT_RTOL, run_check


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('name', help='fixture folder, e.g. m4sar')
    parser.add_argument('--root', type=Path, default=None,
                        help='fixture root (default ../shared/equivalence '
                        'or $MMOSAR_EQUIVALENCE)')
    parser.add_argument('--rtol', type=float, default=DEFAULT_RTOL,
                        help='default relative tolerance (keys may set '
                        'their own, stated in the table)')
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    from mmosar.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    report = run_check(args.name, args.root, args.rtol)
    print(report.format())
    return 0 if report.ok else 1


if __name__ == '__main__':
    sys.exit(main())
