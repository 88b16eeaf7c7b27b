"""CMPC (``Collebt/CMPC@2992c8c``) against its fixture.

The released ``{'model': state_dict}`` made by the recipe is converted with
:func:`~mmosar.models.retrieval.convert_cmpc` and loaded strictly into
mmosar's released-mode models (float64):

- :class:`CMPCEmbedder` (ResNet-50 with BatchNorm, last stride 1, global max
  pooling, Linear + BatchNorm1d projector, joint batch): eval-mode
  embeddings per modality and train-mode embeddings of the joint batch
  ``[optical ; SAR]``;
- :class:`ATEMRefiner` with ``released=True``: node order, edge weights,
  adjacency, node logits and features, test-time scores and order;
- the released evaluation (:mod:`mmosar.evaluation.functional.retrieval`)
  on the fixture's built example, coarse and refined, with the released
  thresholds ``linspace(0, 200, 20)``.
"""
from typing import Dict

import numpy as np
import torch

from . import EquivalenceReport, Fixture

#: The released main experiment's embedding network (specify_num 0).
EMBEDDER = dict(
    type='CMPCEmbedder',
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(3, ),
        strides=(1, 2, 2, 1),
        norm_eval=False,
        init_cfg=None),
    head=dict(
        type='CrossModalEmbeddingHead',
        in_channels=2048,
        proj_channels=512,
        init_cfg=None),
    critic=None,
    joint_batch=True)

#: The released refinement network (node_topk 10, edge_topk 5, sigma 5e-4).
REFINER = dict(
    type='ATEMRefiner',
    feat_channels=2048,
    net_channels=2048,
    num_layers=4,
    num_edges=5,
    edge_sigma=5e-4,
    released=True)
NODE_TOPK = 10


def _build(cfg: dict, weights: Dict[str, torch.Tensor], prefix: str,
           source: str) -> torch.nn.Module:
    from mmosar.models.retrieval.cmpc_converter import select_prefix
    from mmosar.registry import MODELS
    from mmosar.utils.checkpoint import load_state_dict_strict
    model = MODELS.build(cfg)
    load_state_dict_strict(model, select_prefix(weights, prefix, source),
                           source)
    return model.double()


def _check_embedder(fixture: Fixture, model, report: EquivalenceReport):
    sar = torch.from_numpy(fixture['inputs/sar'])
    opt = torch.from_numpy(fixture['inputs/optical'])
    seen = []  # projector input (pooled) and output (before normalisation)
    hook = model.head.projector.register_forward_hook(
        lambda module, args, out: seen.append((args[0], out)))
    try:
        model.eval()
        with torch.no_grad():
            for name, images in (('sar', sar), ('optical', opt)):
                feat, vec = model.extract_feat(images)
                pooled, projected = seen.pop()
                for key, value in (('pooled', pooled),
                                   ('proj_pre_norm', projected),
                                   ('out_feat', feat), ('out_vec', vec)):
                    report.compare(f'eval/{name}/{key}', value,
                                   fixture[f'eval/{name}/{key}'])
            model.train()
            outputs = model.embed_modalities(sar, opt)
            pooled, projected = seen.pop()
    finally:
        hook.remove()
    report.compare('train/joint/pooled', pooled,
                   fixture['train/joint/pooled'])
    report.compare('train/joint/proj_pre_norm', projected,
                   fixture['train/joint/proj_pre_norm'])
    names = ('sar/out_feat', 'sar/out_vec', 'optical/out_feat',
             'optical/out_vec')
    for name, value in zip(names, outputs):
        report.compare(f'train/{name}', value, fixture[f'train/{name}'])


def _check_refiner(fixture: Fixture, refiner, report: EquivalenceReport):
    from mmosar.models.retrieval import cmpc_edge_weights
    query = torch.from_numpy(fixture['refine/query_feat'])
    cands = torch.from_numpy(fixture['refine/candidate_feat'])
    node_index = (query @ cands.t()).topk(NODE_TOPK, dim=1).indices
    report.compare('refine/node_index', node_index,
                   fixture['refine/node_index'])
    node_cands = cands[node_index]
    refiner.eval()
    with torch.no_grad():
        adj, weights = refiner.graph(node_cands)
        nodes = torch.cat(
            [query[:, None].expand(-1, NODE_TOPK, -1), node_cands], -1)
        _, node_feats = refiner.forward_graph(nodes, adj, weights)
        out = refiner(query, node_cands)
    report.compare('refine/edge_weight',
                   cmpc_edge_weights(node_cands, refiner.edge_sigma),
                   fixture['refine/edge_weight'])
    report.compare('refine/adjacency', adj.double(),
                   fixture['refine/adjacency'])
    report.compare('refine/gnn_node_score', out.node_logits,
                   fixture['refine/gnn_node_score'])
    report.compare('refine/node_feat', node_feats, fixture['refine/node_feat'])
    report.compare('refine/score', out.scores, fixture['refine/score'])
    report.compare('refine/order', out.scores.argsort(1, descending=True),
                   fixture['refine/order'])


def _compare_metric(report: EquivalenceReport, fixture: Fixture, stage: str,
                    sim: np.ndarray, pred_pos: np.ndarray) -> None:
    from mmosar.evaluation.functional import (
        released_cmc_map,
        released_localization,
    )
    cmc, mean_rr = released_cmc_map(sim, fixture['metric/ref_id'],
                                    fixture['metric/query_id'])
    thresholds, loc_cmc, mean_err = released_localization(
        pred_pos, fixture['metric/query_pos'])
    report.compare(f'metric/{stage}/sim_mat', sim,
                   fixture[f'metric/{stage}/sim_mat'])
    report.compare(f'metric/{stage}/pred_pos', pred_pos,
                   fixture[f'metric/{stage}/pred_pos'])
    report.compare(f'metric/{stage}/cmc', cmc, fixture[f'metric/{stage}/cmc'])
    report.compare(f'metric/{stage}/mAP', mean_rr,
                   fixture[f'metric/{stage}/mAP'])
    report.compare(f'metric/{stage}/loc_cmc', loc_cmc,
                   fixture[f'metric/{stage}/loc_cmc'])
    report.compare(f'metric/{stage}/mean_err_m', mean_err,
                   fixture[f'metric/{stage}/mean_err_m'])
    if stage == 'coarse':
        report.compare('metric/thresholds_m', thresholds,
                       fixture['metric/thresholds_m'])


def _check_metric(fixture: Fixture, refiner, report: EquivalenceReport):
    from mmosar.evaluation.functional import (
        released_refined_similarity,
        released_sq_l2_similarity,
    )
    query = fixture['metric/query_feat']
    refs = fixture['metric/ref_feat']
    ref_pos = fixture['metric/ref_pos']
    sim = released_sq_l2_similarity(query, refs)
    _compare_metric(report, fixture, 'coarse', sim,
                    ref_pos[sim.argmax(axis=1)])

    # refine_inference: its own top-K by inner product, then ATEM
    query_t, refs_t = torch.from_numpy(query), torch.from_numpy(refs)
    cand = (query_t @ refs_t.t()).topk(NODE_TOPK, dim=1).indices
    with torch.no_grad():
        scores = refiner(query_t, refs_t[cand]).scores
    report.compare('metric/refine/score_topk', scores,
                   fixture['metric/refine/score_topk'])
    order = scores.argsort(1, descending=True).numpy()
    coarse_topk = torch.from_numpy(sim).topk(NODE_TOPK, dim=1).indices.numpy()
    refined = released_refined_similarity(sim, coarse_topk, order)
    best = np.take_along_axis(coarse_topk, order[:, :1], 1)[:, 0]
    _compare_metric(report, fixture, 'refine', refined, ref_pos[best])


def check(fixture: Fixture, report: EquivalenceReport) -> None:
    """Convert, load strictly, run and compare every fixture array."""
    from mmosar.models.retrieval import convert_cmpc
    from mmosar.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    source = f'{fixture.root}/manifest.json (recipe weights)'
    weights = convert_cmpc(fixture.released_state_dict(), source)
    embedder = _build(EMBEDDER, weights, 'embedder.', source)
    refiner = _build(REFINER, weights, 'refiner.', source)
    _check_embedder(fixture, embedder, report)
    _check_refiner(fixture, refiner, report)
    _check_metric(fixture, refiner, report)
