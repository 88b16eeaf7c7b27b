"""The gated graph refiner (mmosar's redesign) in CMPCGraphRefinement: kNN
edges, masked attention, ranking safety, gradient flow."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample

from mmosar.datasets.cmpc import save_embedding_cache
from mmosar.evaluation.functional import eval_retrieval
from mmosar.models.retrieval import (
    AttentionGraphRefiner,
    CMPCGraphRefinement,
    MaskedGraphAttentionLayer,
    knn_adjacency,
)


def test_knn_adjacency_matches_brute_force():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(2, 9, 3))
    adj = knn_adjacency(torch.as_tensor(points), 4).numpy()
    for b in range(2):
        for i in range(9):
            d = [(np.linalg.norm(points[b, i] - points[b, j]), j)
                 for j in range(9) if j != i]
            expected = {j for _, j in sorted(d)[:4]}
            assert set(np.flatnonzero(adj[b, i])) == expected


def test_attention_only_reads_neighbours():
    torch.manual_seed(0)
    layer = MaskedGraphAttentionLayer(8)
    x = torch.randn(1, 6, 8, requires_grad=True)
    adj = knn_adjacency(torch.randn(1, 6, 2), 2)
    out = layer(x, adj)
    for i in range(6):
        grad, = torch.autograd.grad(out[0, i].sum(), x, retain_graph=True)
        touched = grad[0].abs().sum(-1) > 0
        allowed = adj[0, i].clone()
        allowed[i] = True
        assert not (touched & ~allowed).any(), f'node {i} reads non-edges'


def test_untrained_refiner_returns_coarse_similarity():
    torch.manual_seed(0)
    refiner = AttentionGraphRefiner(feat_channels=16, hidden_channels=32)
    coarse = torch.randn(4, 10)
    out = refiner(torch.randn(4, 16), torch.randn(4, 10, 16), coarse)
    assert torch.equal(out.scores, coarse)
    assert torch.equal(out.node_logits, coarse)


def _bank(tmp_path, num_refs=30, dim=16, noise=0.05, seed=0):
    """References on a grid; each query is its reference plus small noise,
    so the coarse ranking is perfect."""
    rng = np.random.default_rng(seed)
    refs = rng.normal(size=(num_refs, dim)).astype(np.float32)
    refs /= np.linalg.norm(refs, axis=1, keepdims=True)
    queries = refs + noise * rng.normal(size=refs.shape).astype(np.float32)
    pos = np.stack(np.meshgrid(np.arange(6), np.arange(5)), -1).reshape(
        -1, 2)[:num_refs] * 100.0
    path = str(tmp_path / 'bank.npz')
    save_embedding_cache(
        path,
        ref_feats=refs,
        ref_pos=pos,
        query_feats=queries,
        query_gt_index=np.arange(num_refs),
        query_pos=pos + 10)
    return path, torch.as_tensor(queries), torch.arange(num_refs)


def _model(bank, **refiner_kwargs):
    return CMPCGraphRefinement(
        refiner=dict(
            type='AttentionGraphRefiner',
            feat_channels=16,
            hidden_channels=32,
            num_layers=4,
            num_edges=5,
            **refiner_kwargs),
        reference_bank=bank,
        node_topk=10,
        temperature=0.1)


def _samples(gt):
    return [DataSample(metainfo=dict(gt_ref_index=int(g))) for g in gt]


def test_refinement_keeps_a_perfect_ranking(tmp_path):
    torch.manual_seed(0)
    bank, queries, gt = _bank(tmp_path)
    model = _model(bank, edge_source='position', use_positions=True)
    coarse = F.normalize(queries, dim=1) @ model.eval_ref_feats.t()
    assert eval_retrieval(coarse.numpy(), gt.numpy())['recall@1'] == 100
    # untrained: identical ranking by construction
    scores = model(queries, mode='tensor')
    assert eval_retrieval(scores.numpy(), gt.numpy())['recall@1'] == 100
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(15):
        losses = model(queries, _samples(gt), mode='loss')
        loss = sum(losses.values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    assert model.refiner.gate.abs().item() > 0  # it did move
    scores = model(queries, mode='tensor')
    assert eval_retrieval(scores.numpy(), gt.numpy())['recall@1'] == 100


def test_gradients_reach_every_layer(tmp_path):
    torch.manual_seed(0)
    bank, queries, gt = _bank(tmp_path, noise=0.5)
    model = _model(bank, edge_source='position', use_positions=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    # first step: only the residual gate (initialised to 0) gets a gradient
    loss = sum(model(queries, _samples(gt), mode='loss').values())
    loss.backward()
    assert model.refiner.gate.grad.abs().item() > 0
    optimizer.step()
    optimizer.zero_grad()
    loss = sum(model(queries, _samples(gt), mode='loss').values())
    loss.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_training_forces_ground_truth_into_candidates(tmp_path):
    bank, queries, _ = _bank(tmp_path)
    model = _model(bank)
    far_gt = torch.full((len(queries), ), 0)
    sim, cand = model.select_candidates(
        F.normalize(queries, dim=1), model.eval_ref_feats, far_gt)
    assert (cand == 0).any(1).all()
    # candidates stay sorted by their true coarse similarity
    cand_sim = sim.gather(1, cand)
    assert (cand_sim[:, :-1] >= cand_sim[:, 1:]).all()


def test_position_refiner_needs_positions(tmp_path):
    path = str(tmp_path / 'nopos.npz')
    save_embedding_cache(path, ref_feats=np.eye(12, 16, dtype=np.float32))
    with pytest.raises(ValueError, match='positions'):
        _model(path, edge_source='position')
