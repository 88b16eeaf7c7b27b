"""Convert a released CMPC checkpoint (``Collebt/CMPC``) to mmosar.

``python tools/model_converters/cmpc_to_mmosar.py IN.t OUT.pth [--part P]``

The release saves ``{'model': embed_GNN.state_dict(), 'epoch': N}`` (e.g.
``results/<exp>/30_param.t``). ``--part``:

- ``retriever`` (default): ``embedder.*`` + ``refiner.*``, for
  ``CMPCRetriever`` (or pass the released file itself as its
  ``released_checkpoint``, converted on loading);
- ``embedder``: ``backbone.*`` + ``head.*``, a ``CMPCEmbedder`` checkpoint
  (stage 1; the released file has no critic, so the configs that train on
  from it allow ``critic.*`` missing or set ``critic=None``);
- ``refinement``: ``refiner.*``, a ``CMPCGraphRefinement`` checkpoint.

Unused released entries (tied ``model.*`` aliases, ``opt_net.model.*``,
``gnn.conv2``, ``gnn.pos_emb``, ``gnn.layer.N.group_norm``) are dropped; any
unknown key is an error. See ``mmosar/models/retrieval/cmpc_converter.py``.
"""
import argparse
import os
import os.path as osp

import torch

from mmosar.models.retrieval.cmpc_converter import convert_cmpc, select_prefix

PARTS = ('retriever', 'embedder', 'refinement')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert a released CMPC checkpoint to mmosar names')
    parser.add_argument('src', help='released checkpoint ({"model": ...})')
    parser.add_argument('dst', help='output .pth')
    parser.add_argument('--part', choices=PARTS,
                        default='retriever', help='which model to write')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    checkpoint = torch.load(args.src, map_location='cpu', weights_only=True)
    state_dict = checkpoint.get('model', checkpoint) if isinstance(
        checkpoint, dict) else checkpoint
    converted = convert_cmpc(state_dict, args.src)
    if args.part == 'refinement':
        converted = {f'refiner.{k}': v for k, v in select_prefix(
            converted, 'refiner.', args.src).items()}
    elif args.part == 'embedder':
        converted = select_prefix(converted, 'embedder.', args.src)
    epoch = checkpoint.get('epoch') if isinstance(checkpoint, dict) else None
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    torch.save(
        dict(
            state_dict=converted,
            meta=dict(source=args.src, released_epoch=epoch,
                      part=args.part)), args.dst)
    print(f'{args.src} -> {args.dst}: {len(converted)} tensors '
          f'({args.part})')


if __name__ == '__main__':
    main()
