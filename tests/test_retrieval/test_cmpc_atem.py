"""The released CMPC refinement network (ATEM): edge-weight underflow
(released) vs true nearest neighbours (paper mode), test-time uniform
attention of the release, one-query batches."""
import numpy as np
import torch
import torch.nn.functional as F

from mmosar.models.retrieval import (
    ATEMAttentionBlock,
    ATEMRefiner,
    cmpc_edge_weights,
    cmpc_feature_adjacency,
)


def _brute_force_knn(points: np.ndarray, k: int) -> np.ndarray:
    unit = points / np.linalg.norm(points, axis=-1, keepdims=True)
    num = points.shape[1]
    adj = np.zeros((points.shape[0], num, num), bool)
    for b in range(points.shape[0]):
        for i in range(points.shape[1]):
            dist = [(np.linalg.norm(unit[b, i] - unit[b, j]), j)
                    for j in range(points.shape[1]) if j != i]
            adj[b, i, [j for _, j in sorted(dist)[:k]]] = True
    return adj


def test_released_edge_weights_underflow_and_paper_mode_fixes_it():
    rng = np.random.default_rng(0)
    # typical retrieval candidates: unit features 0.3-1.4 apart
    cands = rng.normal(size=(2, 10, 64)).astype(np.float32)
    weights = cmpc_edge_weights(torch.from_numpy(cands), 5e-4).numpy()
    off_diag = ~np.eye(10, dtype=bool)
    assert (weights[:, off_diag] == 0).all()  # exp(-d / 0.0005) underflows
    assert (weights[:, ~off_diag] == -0.1).all()
    expected = _brute_force_knn(cands.astype(np.float64), 5)
    paper = cmpc_feature_adjacency(torch.from_numpy(cands), 5).numpy()
    np.testing.assert_array_equal(paper, expected)
    released = cmpc_feature_adjacency(
        torch.from_numpy(cands), 5, released=True).numpy()
    assert released.sum(-1).tolist() == [[5] * 10] * 2
    assert not released[:, ~off_diag].any()
    # ties: the released graph is not the nearest-neighbour graph
    assert (released != expected).any()


def test_modes_agree_when_weights_do_not_underflow():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(1, 1, 32))
    cands = torch.from_numpy(base + 0.001 * rng.normal(size=(3, 10, 32)))
    weights = cmpc_edge_weights(cands, 5e-4)
    assert (weights > 0).sum() == 3 * 90  # no underflow in float64 here
    assert torch.equal(
        cmpc_feature_adjacency(cands, 5, released=True),
        cmpc_feature_adjacency(cands, 5))


def test_attention_is_uniform_over_neighbours_with_zero_weights():
    torch.manual_seed(0)
    block = ATEMAttentionBlock(8).double().eval()
    x = torch.randn(1, 8, 6, 1, dtype=torch.float64)
    adj = cmpc_feature_adjacency(torch.randn(1, 6, 4), 2)
    # zero edge weights (the released test-time underflow): every neighbour
    # gets weight 1/2, so the message is the mean of ELU(W x) over them
    feat = block.proj(x).squeeze(-1)[0]  # C, K
    mean_msg = torch.stack([
        F.elu(feat[:, adj[0, i]]).mean(1) for i in range(6)])  # K, C
    msg = (mean_msg - mean_msg.mean()) / torch.sqrt(
        mean_msg.var(unbiased=False) + 1e-5)
    expected = block.ffn(x + msg.t()[None, :, :, None])
    out = block(x, adj, torch.zeros(1, 6, 6, dtype=torch.float64))
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)


def test_one_query_batches_and_per_query_independence():
    torch.manual_seed(0)
    refiner = ATEMRefiner(feat_channels=16, net_channels=16).double().eval()
    query = F.normalize(torch.randn(3, 16, dtype=torch.float64), dim=1)
    cands = torch.randn(3, 10, 16, dtype=torch.float64)
    with torch.no_grad():
        batch = refiner(query, cands)
        single = [refiner(query[i:i + 1], cands[i:i + 1]) for i in range(3)]
    for i, out in enumerate(single):
        torch.testing.assert_close(out.scores[0], batch.scores[i])
        torch.testing.assert_close(out.node_logits[0], batch.node_logits[i])
    # scores are cosines between the query and the node features
    assert batch.scores.abs().max() <= 1 + 1e-12


def test_released_training_graphs_put_the_ground_truth_first(tmp_path):
    from mmosar.datasets.cmpc import save_embedding_cache
    from mmosar.models.retrieval import CMPCGraphRefinement
    rng = np.random.default_rng(0)
    refs = rng.normal(size=(30, 16)).astype(np.float32)
    refs /= np.linalg.norm(refs, axis=1, keepdims=True)
    bank = str(tmp_path / 'bank.npz')
    save_embedding_cache(bank, ref_feats=refs)
    model = CMPCGraphRefinement(
        refiner=dict(type='ATEMRefiner', feat_channels=16, net_channels=16),
        reference_bank=bank, node_topk=10, gt_first=True)
    query = rng.normal(size=(4, 16)).astype(np.float32)
    query /= np.linalg.norm(query, axis=1, keepdims=True)
    gt = np.array([0, 5, 17, 29])
    _, cand = model.select_candidates(
        torch.from_numpy(query), torch.from_numpy(refs), torch.from_numpy(gt))
    sim = query @ refs.T
    for q in range(4):
        others = [j for j in np.argsort(-sim[q]) if j != gt[q]][:9]
        assert cand[q].tolist() == [gt[q]] + others
