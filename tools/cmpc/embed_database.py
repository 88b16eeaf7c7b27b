"""Embed a retrieval database once and save it (CMPC).

Embeds the references (optical patches) of a dataset with a trained
``CMPCEmbedder`` and writes an embedding cache (``.npz``: ``ref_feats``,
``ref_pos``, ``ref_paths``). With ``--with-queries`` the queries are embedded
too (``query_feats``, ``query_gt_index``, ``query_pos``, ``query_paths``):
that is the cache the graph refinement stage trains and validates on.

Examples::

    # database of the test split, for tools/cmpc/retrieve.py and the e2e model
    python tools/cmpc/embed_database.py CONFIG CKPT --out db_test.npz
    # caches for the refinement stage
    python tools/cmpc/embed_database.py CONFIG CKPT --dataloader train \
        --with-queries --out work_dirs/cmpc/train_embeddings.npz
    python tools/cmpc/embed_database.py CONFIG CKPT --dataloader test \
        --with-queries --out work_dirs/cmpc/test_embeddings.npz
"""
import argparse
import copy
import os
import os.path as osp

import numpy as np
import torch
from mmengine.config import DictAction
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from mmosar.datasets.cmpc import save_embedding_cache
from mmosar.models.retrieval.cmpc_converter import load_cmpc_weights
from mmosar.registry import MODELS
from mmosar.utils.runner_utils import load_tool_config


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='embedding-stage config')
    parser.add_argument('checkpoint', help='embedding-stage checkpoint')
    parser.add_argument('--out', required=True, help='output .npz file')
    parser.add_argument(
        '--dataloader',
        choices=['train', 'val', 'test'],
        default='test',
        help='whose dataset to embed (always with the test pipeline)')
    parser.add_argument(
        '--with-queries',
        action='store_true',
        help='also embed the queries (cache for the refinement stage)')
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


@torch.no_grad()
def embed_dataset(model, dataloader) -> dict:
    """Features, roles, indices, positions and paths of every item."""
    refs, queries = [], []
    for data in dataloader:
        for sample in model.test_step(data):
            record = dict(
                feat=sample.pred_feature.cpu().numpy(),
                pos=sample.get('pos'),
                path=sample.img_path)
            if sample.role == 'reference':
                refs.append((sample.ref_index, record))
            else:
                queries.append((sample.gt_ref_index, record))
    refs = [record for _, record in sorted(refs, key=lambda r: r[0])]
    has_pos = all(r['pos'] is not None for _, r in queries) and all(
        r['pos'] is not None for r in refs)
    cache = dict(
        ref_feats=np.stack([r['feat'] for r in refs]),
        ref_paths=[r['path'] for r in refs],
        ref_pos=np.stack([r['pos'] for r in refs]) if has_pos else None)
    if queries:
        cache.update(
            query_feats=np.stack([r['feat'] for _, r in queries]),
            query_gt_index=np.array([index for index, _ in queries]),
            query_paths=[r['path'] for _, r in queries],
            query_pos=np.stack([r['pos'] for _, r in queries])
            if has_pos else None)
    return cache


def main() -> None:
    args = parse_args()
    cfg = load_tool_config(args.config, args.cfg_options)
    DefaultScope.get_instance('cmpc_embed_database',
                              scope_name=cfg.get('default_scope', 'mmosar'))
    model = MODELS.build(cfg.model)
    # strict; a released CMPC file is converted, and the critic (training
    # only, absent from released files) may be missing
    load_cmpc_weights(model, args.checkpoint, released_prefix='embedder.',
                      allowed_missing=['critic.*'])
    model.to(args.device).eval()

    dataset = copy.deepcopy(cfg[f'{args.dataloader}_dataloader'].dataset)
    dataset.mode = 'all' if args.with_queries else 'reference'
    dataset.pipeline = cfg.test_dataloader.dataset.pipeline
    dataloader = Runner.build_dataloader(
        dict(
            dataset=dataset,
            batch_size=args.batch_size,
            num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate')))
    cache = embed_dataset(model, dataloader)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    save_embedding_cache(args.out, **cache)
    num_queries = len(cache.get('query_feats', []))
    print(f'saved {len(cache["ref_feats"])} references and {num_queries} '
          f'queries ({cache["ref_feats"].shape[1]}-d) to {args.out}')


if __name__ == '__main__':
    main()
