"""Build a tiny synthetic SN6-CMPC folder from co-registered 3MOS pairs.

No SN6-CMPC sample can be obtained here, so this writes the SN6-CMPC on-disk
format (see ``mmosar.datasets.SN6CMPCDataset``) from the real 3MOS pairs:

- each 3MOS source strip becomes one row of a reference grid and each patch
  of the strip one column; the optical patch is the reference with
  ``pos = (column * spacing, row * spacing)`` metres and ``id`` = its index;
- the SAR patch of the same name is the query of that id, at the reference
  position plus a uniform offset of up to ``jitter`` metres per axis (the
  "non-aligned" setting: the query window is near, not on, its cell);
- ``near_id`` lists the ids of the 4-connected neighbour cells;
- every ``test_every``-th strip goes to ``test/``, the others to ``train/``.

Positions are synthetic; only the image pairing is real.

Example::

    python tools/data/make_toy_sn6cmpc.py ../shared/data/3mos_pairs \
        data/sn6cmpc_toy
"""
import argparse
import csv
import json
import os
import os.path as osp
import random
import re
import shutil
from collections import defaultdict
from typing import Dict, List


def _strips(src: str) -> Dict[str, List[str]]:
    meta = osp.join(src, 'pairs.csv')
    strips = defaultdict(list)
    if osp.isfile(meta):
        with open(meta, newline='') as f:
            for row in csv.DictReader(f):
                strips[row['source_strip']].append(
                    (int(row['x0']), row['file']))
    else:  # group <strip>_<k>.png by their prefix
        for name in sorted(os.listdir(osp.join(src, 'opt'))):
            match = re.match(r'(.+)_(\d+)\.\w+$', name)
            if match:
                strips[match.group(1)].append((int(match.group(2)), name))
    return {k: [name for _, name in sorted(v)] for k, v in strips.items()}


def make_toy_sn6cmpc(src: str,
                     out: str,
                     spacing: float = 100.0,
                     jitter: float = 25.0,
                     test_every: int = 4,
                     max_per_strip: int = None,
                     seed: int = 0) -> Dict[str, int]:
    """Write the toy dataset.

    Args:
        src (str): Folder with ``opt/``, ``sar/`` (and ``pairs.csv``).
        out (str): Output root (gets ``train/`` and ``test/``).
        spacing (float): Grid spacing in metres. Defaults to 100.
        jitter (float): Max query offset per axis in metres. Defaults to 25.
        test_every (int): Every n-th strip is a test row. Defaults to 4.
        max_per_strip (int, optional): Keep only the first patches of each
            strip (smaller toy sets). Defaults to None.
        seed (int): Seed of the offsets. Defaults to 0.

    Returns:
        dict[str, int]: Number of locations per split.
    """
    rng = random.Random(seed)
    counts = defaultdict(int)
    for row, (strip, names) in enumerate(sorted(_strips(src).items())):
        split = 'test' if row % test_every == test_every - 1 else 'train'
        for sub in ('imgs/opt', 'imgs/sar', 'annotations/opt',
                    'annotations/sar'):
            os.makedirs(osp.join(out, split, sub), exist_ok=True)
        names = names[:max_per_strip] if max_per_strip else names
        first_id = counts[split]
        for col, name in enumerate(names):
            ref_id = first_id + col
            ext = osp.splitext(name)[1]
            for modality in ('opt', 'sar'):
                path = osp.join(src, modality, name)
                if not osp.isfile(path):
                    raise FileNotFoundError(f'{name}: missing {path}')
                shutil.copyfile(
                    path, osp.join(out, split, 'imgs', modality,
                                   f'{ref_id}{ext}'))
            x, y = col * spacing, row * spacing
            near = [first_id + c for c in (col - 1, col + 1)
                    if 0 <= c < len(names)]
            ref = dict(id=ref_id, pos=dict(x=x, y=y),
                       file_path=f'{ref_id}{ext}', near_id=near)
            query = dict(
                id=ref_id,
                pos=dict(x=x + rng.uniform(-jitter, jitter),
                         y=y + rng.uniform(-jitter, jitter)),
                file_path=f'{ref_id}{ext}',
                near_id=near)
            for modality, entry, stem in (('opt', ref, f'{ref_id}'),
                                          ('sar', query, f'q_{ref_id}')):
                with open(osp.join(out, split, 'annotations', modality,
                                   f'{stem}.json'), 'w') as f:
                    json.dump(entry, f)
        counts[split] += len(names)
    return dict(counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='3MOS-style pair folder')
    parser.add_argument('out', help='output SN6-CMPC-style root')
    parser.add_argument('--spacing', type=float, default=100.0)
    parser.add_argument('--jitter', type=float, default=25.0)
    parser.add_argument('--test-every', type=int, default=4)
    parser.add_argument('--max-per-strip', type=int, default=None)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    counts = make_toy_sn6cmpc(args.src, args.out, args.spacing, args.jitter,
                              args.test_every, args.max_per_strip, args.seed)
    print(f'wrote {args.out}: ' +
          ', '.join(f'{k} {v} locations' for k, v in sorted(counts.items())))


if __name__ == '__main__':
    main()
