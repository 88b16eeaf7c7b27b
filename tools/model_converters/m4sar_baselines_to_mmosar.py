"""Convert released M4-SAR benchmark baseline weights to mmosar.

``python tools/model_converters/m4sar_baselines_to_mmosar.py MODEL IN OUT``

MODEL is ``CFT``, ``CALNet``, ``CSSA``, ``CMADet``, ``ICAFusion`` or
``MMIDet``. IN is the released model's ``state_dict`` saved with
``torch.save`` (names ``model.<layer>.<rest>``; from an Ultralytics
``best.pt`` take ``ckpt['model'].float().state_dict()`` or use the
E2E-OSDet converter's restricted loader). It is read with
``weights_only=True``. OUT is an mmosar checkpoint for
``configs/m4sar_benchmark/<model>_yolo11s-obb_300e_m4sar.py``; the weights
the release builds but never uses and the constant DFL projection are
dropped, and any other unmapped weight is an error naming it.
"""
import argparse
import os
import os.path as osp

import torch

from mmosar.utils.converters import load_ultralytics_state_dict
from mmosar.utils.converters.m4sar_baselines import (
    BASELINE_LAYOUTS,
    convert_m4sar_baseline,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('model', choices=sorted(BASELINE_LAYOUTS))
    parser.add_argument('src', help='released state_dict (.pt / .pth)')
    parser.add_argument('dst', help='mmosar checkpoint to write')
    args = parser.parse_args()
    # a released best.pt (pickled Ultralytics modules, read without running
    # code from the file) or a plain state_dict in released names
    state_dict, entry = load_ultralytics_state_dict(args.src)
    print(f'{args.src}: released weights from its {entry!r} entry')
    conversion = convert_m4sar_baseline(state_dict, args.model, args.src)
    converted = conversion.state_dict
    for name in conversion.dropped:
        print(f'dropped (never used by the released forward): {name}')
    if osp.dirname(args.dst):
        os.makedirs(osp.dirname(args.dst), exist_ok=True)
    torch.save(dict(state_dict=converted,
                    meta=dict(converted_from=args.src, model=args.model)),
               args.dst)
    print(f'{args.model}: {len(state_dict)} released tensors -> '
          f'{len(converted)} mmosar tensors in {args.dst}')


if __name__ == '__main__':
    main()
