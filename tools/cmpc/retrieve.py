"""Retrieve optical references for new SAR query patches (CMPC).

Embeds each query image with a trained ``CMPCEmbedder`` (test pipeline of the
config), searches a database written by ``tools/cmpc/embed_database.py``,
optionally re-ranks the top K with a trained graph refinement, prints the
top-k references (with their positions when the database has them) and
writes ``<out-dir>/<query name>_top<k>.png``: the query, then the top-k.

Example::

    python tools/cmpc/retrieve.py CONFIG CKPT db_test.npz q1.png q2.png \
        --topk 5 --out-dir retrieval_vis \
        [--refine-config REFINE_CONFIG --refine-checkpoint REFINE_CKPT]
"""
import argparse
import os
import os.path as osp

import mmcv
import torch
from mmengine.config import DictAction
from mmengine.dataset import Compose, default_collate
from mmengine.registry import DefaultScope

from mmosar.datasets.cmpc import load_embedding_cache
from mmosar.models.retrieval.cmpc_converter import load_cmpc_weights
from mmosar.registry import MODELS
from mmosar.utils.runner_utils import load_tool_config


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='embedding-stage config')
    parser.add_argument('checkpoint', help='embedding-stage checkpoint')
    parser.add_argument('database', help='.npz from embed_database.py')
    parser.add_argument('queries', nargs='+', help='query image files')
    parser.add_argument('--topk', type=int, default=5)
    parser.add_argument('--out-dir', default='retrieval_vis')
    parser.add_argument('--refine-config', help='refinement-stage config')
    parser.add_argument('--refine-checkpoint')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def draw_ranking(query_path: str, ref_paths, scores, ref_pos,
                 out_file: str) -> None:
    """Save a row of images: the query, then the ranked references."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2.2 * (len(ref_paths) + 1), 2.6), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(ref_paths) + 1)
    axes[0].imshow(mmcv.imread(query_path, channel_order='rgb'))
    axes[0].set_title('query', fontsize=9)
    for rank, (ax, path, score) in enumerate(
            zip(axes[1:], ref_paths, scores), start=1):
        ax.imshow(mmcv.imread(path, channel_order='rgb'))
        title = f'#{rank} s={score:.3f}'
        if ref_pos is not None:
            title += f'\n({ref_pos[rank - 1][0]:.0f}, ' \
                     f'{ref_pos[rank - 1][1]:.0f}) m'
        ax.set_title(title, fontsize=8)
    for ax in axes:
        ax.axis('off')
    fig.tight_layout()
    fig.savefig(out_file)


@torch.no_grad()
def main() -> None:
    args = parse_args()
    cfg = load_tool_config(args.config, args.cfg_options)
    DefaultScope.get_instance('cmpc_retrieve',
                              scope_name=cfg.get('default_scope', 'mmosar'))
    model = MODELS.build(cfg.model)
    # strict; a released CMPC file is converted, and the critic (training
    # only, absent from released files) may be missing
    load_cmpc_weights(model, args.checkpoint, released_prefix='embedder.',
                      allowed_missing=['critic.*'])
    model.eval()
    pipeline = Compose(cfg.test_dataloader.dataset.pipeline)
    batch = default_collate(
        [pipeline(dict(img_path=path)) for path in args.queries])
    query_feats = torch.stack(
        [s.pred_feature for s in model.test_step(batch)])

    database = load_embedding_cache(args.database)
    if args.refine_config:
        refine_cfg = load_tool_config(args.refine_config).model
        refine_cfg.update(
            reference_bank=args.database, eval_reference_bank=args.database)
        refiner = MODELS.build(refine_cfg)
        if args.refine_checkpoint:
            load_cmpc_weights(refiner.refiner, args.refine_checkpoint,
                              prefix='refiner.')
        scores = refiner.eval().rerank(query_feats)
    else:
        ref_feats = torch.nn.functional.normalize(
            torch.as_tensor(database['ref_feats']).float(), dim=1)
        scores = query_feats @ ref_feats.t()
    k = min(args.topk, scores.shape[1])
    top_scores, top_index = scores.topk(k, dim=1)
    ref_paths = database.get('ref_paths')
    ref_pos = database.get('ref_pos')
    os.makedirs(args.out_dir, exist_ok=True)
    for query, s_row, i_row in zip(args.queries, top_scores.numpy(),
                                   top_index.numpy()):
        print(f'{query}:')
        for rank, (s, i) in enumerate(zip(s_row, i_row), start=1):
            where = '' if ref_pos is None else \
                f' at ({ref_pos[i][0]:.1f}, {ref_pos[i][1]:.1f}) m'
            name = ref_paths[i] if ref_paths is not None else f'ref {i}'
            print(f'  #{rank} {name} score {s:.4f}{where}')
        if ref_paths is not None:
            out_file = osp.join(
                args.out_dir,
                f'{osp.splitext(osp.basename(query))[0]}_top{k}.png')
            draw_ranking(query, [ref_paths[i] for i in i_row], s_row,
                         None if ref_pos is None else ref_pos[i_row],
                         out_file)
            print(f'  picture: {out_file}')


if __name__ == '__main__':
    main()
