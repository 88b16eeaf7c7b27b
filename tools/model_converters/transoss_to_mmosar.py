"""Convert a released TransOSS (Hoss-ReID) checkpoint to mmosar names.

    python tools/model_converters/transoss_to_mmosar.py IN.pth OUT.pth \
        [--target reid|pretrain]

IN is any released layout: a full model (``HOSS_TransOSS.pth``: ``base.*``,
``bottleneck.*``, ``classifier.*``, ``logit_scale``), the same saved under
DistributedDataParallel (``module.`` prefix), or a backbone-only file
(``vit_b512_pre.pth``, or timm's ImageNet ``vit_base_p16_224``).
``--target reid`` writes the names of ``TransOSS`` (fine-tuned model, e.g.
for ``tools/test.py configs/transoss/transoss_vit-b16_p8k4-200e_hoss.py
OUT.pth``), ``--target pretrain`` those of ``OptiSarContrastive``. The
dropped entries (unused by the target's forward) are printed; an unknown
key is an error. The conversion is
:func:`mmosar.utils.converters.transoss.transoss_conversion`.
"""
import argparse
import os
import os.path as osp

import torch

from mmosar.utils.checkpoint import unwrap_state_dict
from mmosar.utils.converters.transoss import TARGETS, transoss_conversion


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='released checkpoint')
    parser.add_argument('dst', help='output checkpoint (mmosar names)')
    parser.add_argument('--target', choices=TARGETS, default='reid',
                        help='mmosar model the names are for')
    parser.add_argument('--no-sar-from-optical', action='store_true',
                        help='do not copy the optical patch embedding into a '
                        'missing SAR one (timm ImageNet checkpoints)')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    checkpoint = torch.load(args.src, map_location='cpu', weights_only=True)
    state_dict, dropped, notes = transoss_conversion(
        unwrap_state_dict(checkpoint, args.src), args.target,
        not args.no_sar_from_optical)
    if osp.dirname(args.dst):
        os.makedirs(osp.dirname(args.dst), exist_ok=True)
    torch.save({'state_dict': state_dict,
                'meta': dict(converted_from=osp.basename(args.src),
                             target=args.target)}, args.dst)
    print(f'{args.src}: {len(state_dict)} tensors -> {args.dst} '
          f'(target {args.target})')
    if dropped:
        print(f'dropped (unused by the {args.target} model): {dropped}')
    for note in notes:
        print(note)


if __name__ == '__main__':
    main()
