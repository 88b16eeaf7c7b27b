"""Convert a released M4-SAR E2E-OSDet checkpoint to an mmosar checkpoint.

``python tools/model_converters/m4sar_to_mmosar.py SRC DST [--config CFG]``

SRC: an Ultralytics ``best.pt`` / ``last.pt`` of the released fork (read
without running code from the file and without the released repository,
see :mod:`mmosar.utils.converters.ultralytics_ckpt`), or a state dict in
released names (``model.<layer>.*``). DST: an mmosar checkpoint
(``state_dict`` + ``meta``) for ``tools/test.py`` with CFG (default: the
paper recipe). The weights are checked strictly against the model CFG
builds; dead released layers are dropped and listed; the released constants
(FAM masks, DFL projection) must hold their released values. See
:func:`mmosar.utils.converters.m4sar.convert_e2e_osdet_checkpoint`.
"""
import argparse
import os.path as osp
import sys

DEFAULT_CONFIG = osp.join(
    osp.dirname(osp.abspath(__file__)), '..', '..',
    'configs/e2e_osdet/e2e-osdet_yolo11s-obb_300e_m4sar.py')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='released checkpoint (best.pt) or state '
                        'dict in released names')
    parser.add_argument('dst', help='output mmosar checkpoint')
    parser.add_argument('--config', default=DEFAULT_CONFIG,
                        help='mmosar config whose model the weights must '
                        'match (default: the paper recipe)')
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    from mmosar.utils.converters.m4sar import convert_e2e_osdet_checkpoint
    conversion, entry = convert_e2e_osdet_checkpoint(args.src, args.dst,
                                                     args.config)
    print(f'{args.src} ({entry}) -> {args.dst}: '
          f'{len(conversion.state_dict)} mmosar entries; dropped '
          f'{len(conversion.dropped)} entries of dead layers: '
          + ', '.join(conversion.dropped))
    return 0


if __name__ == '__main__':
    sys.exit(main())
