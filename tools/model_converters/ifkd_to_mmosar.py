"""Convert a released IFKD checkpoint (``Ningsui/IFKD``, mmdet 2.x) for
mmosar's ``IFKDDistiller``.

``python tools/model_converters/ifkd_to_mmosar.py IN.pth OUT.pth``

The student detector's weights become ``student.*``, the seven distillation
tensors ``distill_loss.*`` (mapping in
``mmosar/models/distillers/ifkd_converter.py``); the teacher's are dropped
(the IFKD configs load the teacher from its own checkpoint). Load the result
with a released-mode config, e.g.
``configs/ifkd/ifkd_retinanet_r50-mobilenetv2_fpn_100e_sar-aircraft_released.py``
(its FDR holds the released complex filter). Unknown or missing keys are
errors that list them.
"""
import argparse
import os
import os.path as osp

import torch

from mmosar.models.distillers.ifkd_converter import convert_ifkd_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('checkpoint', help='released IFKD checkpoint')
    parser.add_argument('out', help='mmosar checkpoint to write')
    args = parser.parse_args()
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'{args.checkpoint}: no such file')
    # mmdet 2.x checkpoints pickle their meta: not weights-only
    ckpt = torch.load(args.checkpoint, map_location='cpu', weights_only=False)
    state = ckpt.get('state_dict', ckpt)
    converted, counts = convert_ifkd_checkpoint(state, args.checkpoint)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    torch.save(dict(state_dict=converted,
                    meta=dict(converted_from=osp.abspath(args.checkpoint))),
               args.out)
    print(f'wrote {len(converted)} tensors to {args.out}: {counts["student"]} '
          f'student, {counts["distill"]} distillation; {counts["teacher"]} '
          'teacher tensors dropped')


if __name__ == '__main__':
    main()
