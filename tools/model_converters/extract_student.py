"""Extract the student of an IFKD (distiller) checkpoint.

``python tools/model_converters/extract_student.py IN.pth OUT.pth``

The distiller's checkpoint holds ``student.*`` plus the distillation
modules (adapters, FDR filter, EDE generator); the teacher is never saved.
The output is a plain checkpoint of the student detector (``state_dict``
without the ``student.`` prefix, plus ``meta``) that ``tools/test.py`` loads
with the student config, e.g.
``configs/ifkd/retinanet_r18_fpn_100e_sar-aircraft.py``.
"""
import argparse
import os
import os.path as osp
from typing import Dict

import torch

STUDENT_PREFIX = 'student.'


def extract_student(state_dict: Dict[str, torch.Tensor],
                    source: str = '<state_dict>') -> Dict[str, torch.Tensor]:
    """Student weights of a distiller state dict, prefix removed.

    Raises:
        KeyError: there is no ``student.*`` key (not an IFKD checkpoint).
    """
    student = {
        key[len(STUDENT_PREFIX):]: value
        for key, value in state_dict.items()
        if key.startswith(STUDENT_PREFIX)
    }
    if not student:
        raise KeyError(f'{source}: no "{STUDENT_PREFIX}*" weights; is this '
                       'an IFKDDistiller checkpoint?')
    return student


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('checkpoint', help='IFKD training checkpoint')
    parser.add_argument('out', help='student checkpoint to write')
    args = parser.parse_args()
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'{args.checkpoint}: no such file')
    # mmengine checkpoints pickle its message hub: not weights-only
    ckpt = torch.load(args.checkpoint, map_location='cpu', weights_only=False)
    state = ckpt.get('state_dict', ckpt)
    student = extract_student(state, args.checkpoint)
    meta = dict(ckpt.get('meta', {}) or {})
    meta['extracted_from'] = osp.abspath(args.checkpoint)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    torch.save(dict(state_dict=student, meta=meta), args.out)
    dropped = len(state) - len(student)
    print(f'wrote {len(student)} student tensors to {args.out} '
          f'({dropped} distillation-module tensors dropped)')


if __name__ == '__main__':
    main()
