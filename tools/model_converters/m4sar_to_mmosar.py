"""Convert a released M4-SAR E2E-OSDet checkpoint to an mmosar checkpoint.

``python tools/model_converters/m4sar_to_mmosar.py SRC DST [--config CFG]``

SRC: an Ultralytics ``best.pt`` / ``last.pt`` of the released fork (read
without running code from the file and without the released repository,
see :mod:`mmosar.utils.converters.ultralytics_ckpt`), or a state dict in
released names (``model.<layer>.*``). DST: an mmosar checkpoint
(``state_dict`` + ``meta``) for ``tools/test.py`` with CFG (default: the
paper recipe). The weights are checked strictly against the model CFG
builds; dead released layers are dropped and listed; the released constants
(FAM masks, DFL projection) must hold their released values.
"""
import argparse
import os.path as osp
import sys

import torch

DEFAULT_CONFIG = osp.join(
    osp.dirname(__file__), '..', '..',
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
    from mmengine.config import Config

    from mmosar.registry import MODELS
    from mmosar.utils import register_all_modules
    from mmosar.utils.checkpoint import check_state_dict_keys
    from mmosar.utils.converters import (convert_e2e_osdet,
                                         load_ultralytics_state_dict)
    register_all_modules(init_default_scope=True)
    released, entry = load_ultralytics_state_dict(args.src)
    conversion = convert_e2e_osdet(released, source=args.src)
    model = MODELS.build(Config.fromfile(args.config).model)
    own = model.state_dict()
    check_state_dict_keys(
        own.keys(), conversion.state_dict.keys(), source=args.src,
        shape_errors=[
            f'{k}: weights {tuple(v.shape)} vs model {tuple(own[k].shape)}'
            for k, v in conversion.state_dict.items()
            if k in own and v.shape != own[k].shape
        ])
    torch.save(
        dict(
            state_dict=conversion.state_dict,
            meta=dict(
                source=osp.abspath(args.src),
                released_entry=entry,
                dropped_dead_entries=conversion.dropped,
                config=osp.abspath(args.config))), args.dst)
    print(f'{args.src} ({entry}): {len(released)} released entries -> '
          f'{len(conversion.state_dict)} mmosar entries in {args.dst}; '
          f'dropped {len(conversion.dropped)} entries of dead layers: '
          + ', '.join(conversion.dropped))
    return 0


if __name__ == '__main__':
    sys.exit(main())
