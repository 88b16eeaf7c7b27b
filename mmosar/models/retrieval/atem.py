"""The released CMPC refinement network ("ATEM", ``models/GANet.py``).

Graph over the top-K coarse candidates of one query: node i carries
``[query ; candidate_i]``, each node links to its ``num_edges`` most similar
candidates, and four group-attention blocks update the nodes. The test-time
score of a candidate is ``query . unit(node feature)``; the ``score_conv``
output (``gnn_node_score`` in the release) is trained with a cross-entropy
loss on the ground-truth node.
"""
import math
from typing import NamedTuple, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmosar.registry import MODELS


class RefinerOutput(NamedTuple):
    """What a CMPC refiner returns for a batch of candidate graphs.

    Attributes:
        node_logits (Tensor): Node classification logits (B, K); the
            cross-entropy loss on the ground-truth node uses them.
        scores (Tensor): Refined query-candidate similarities (B, K); the
            margin ranking loss and the test-time ranking use them.
    """

    node_logits: torch.Tensor
    scores: torch.Tensor


def cmpc_edge_weights(cand_feats: torch.Tensor,
                      sigma: float) -> torch.Tensor:
    """Edge weights of the released candidate graph.

    .. math::
        w_{ij} = \\exp(-\\lVert \\hat c_i - \\hat c_j \\rVert / \\sigma),
        \\quad w_{ii} = -0.1,

    with :math:`\\hat c` the L2-normalised candidates and the squared
    distance clamped at 1e-12 before the square root. With the released
    :math:`\\sigma` = 0.0005, :math:`w_{ij}` underflows to exactly 0 for
    unit features further apart than about 0.05 (float32) or 0.37 (float64).

    Args:
        cand_feats (Tensor): Candidate features (B, K, C).
        sigma (float): Bandwidth.

    Returns:
        Tensor: Weights (B, K, K), diagonal -0.1.
    """
    unit = F.normalize(cand_feats, dim=-1)
    sq_dist = (unit[:, :, None] - unit[:, None]).pow(2).sum(-1)
    weights = torch.exp(-sq_dist.clamp(min=1e-12).sqrt() / sigma)
    eye = torch.eye(weights.shape[-1], dtype=torch.bool,
                    device=weights.device)
    return weights.masked_fill(eye, -0.1)


def cmpc_feature_adjacency(cand_feats: torch.Tensor,
                           num_edges: int,
                           sigma: float = 5e-4,
                           released: bool = False) -> torch.Tensor:
    """k-NN adjacency between the candidates of each graph.

    ``released=True`` ranks the neighbours of node i by
    :func:`cmpc_edge_weights` (``topk`` of the weights, as released): when
    the weights underflow to 0 the choice is ``topk``'s tie order, not the
    nearest candidates. ``released=False`` ranks by the distance itself,
    which gives the nearest neighbours the weights were meant to select
    (identical whenever the weights do not underflow).

    Args:
        cand_feats (Tensor): Candidate features (B, K, C).
        num_edges (int): Neighbours per node, < K.
        sigma (float): Bandwidth of the released weights. Defaults to 5e-4.
        released (bool): Released tie behaviour. Defaults to False.

    Returns:
        Tensor: Boolean adjacency (B, K, K); ``adj[b, i, j]`` is True when
        node i links to node j.
    """
    num_nodes = cand_feats.shape[1]
    if not 1 <= num_edges < num_nodes:
        raise ValueError(f'num_edges must be in [1, {num_nodes - 1}] for '
                         f'{num_nodes} nodes, got {num_edges}')
    if released:
        rank_key = cmpc_edge_weights(cand_feats, sigma)
    else:
        unit = F.normalize(cand_feats, dim=-1)
        eye = torch.eye(num_nodes, dtype=torch.bool, device=unit.device)
        rank_key = -torch.cdist(unit, unit).masked_fill(eye, float('inf'))
    neighbours = rank_key.topk(num_edges, dim=-1).indices
    adj = torch.zeros(rank_key.shape, dtype=torch.bool,
                      device=rank_key.device)
    return adj.scatter_(-1, neighbours, True)


def _instance_norm(x: torch.Tensor) -> torch.Tensor:
    """``nn.InstanceNorm2d`` without affine parameters (eps 1e-5)."""
    return F.instance_norm(x, eps=1e-5)


class ATEMResidualBlock(nn.Module):
    """1x1-conv residual block of ATEM (``ResNet_Block`` with ``pre=True``).

    ``out = ReLU(branch(x) + shortcut(x))`` with ``shortcut = BN(conv(x))``
    and ``branch = BN(IN(conv(ReLU(BN(IN(conv(x)))))))``; IN normalises each
    channel over the K nodes of one graph.

    Args:
        channels (int): Node width C.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.shortcut = nn.Sequential(
            nn.Conv2d(channels, channels, 1), nn.BatchNorm2d(channels))
        self.branch = nn.Sequential(
            nn.Conv2d(channels, channels, 1),
            nn.InstanceNorm2d(channels), nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True), nn.Conv2d(channels, channels, 1),
            nn.InstanceNorm2d(channels), nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, K, 1) -> (B, C, K, 1)."""
        return F.relu(self.branch(x) + self.shortcut(x))


class ATEMAttentionBlock(nn.Module):
    """Masked self-attention over the graph edges plus a residual block
    (``Group_Attention`` with ``PosAttention`` in the release).

    .. math::
        f = W x,\\quad
        A = \\mathrm{softmax}_{j \\in N(i)}(f_i^\\top f_j / \\sqrt{C}),\\quad
        y = \\mathrm{FFN}(x + \\mathrm{IN}(A\\,\\mathrm{ELU}(f)))

    where IN normalises each graph's K x C message map as one instance.

    Args:
        channels (int): Node width C.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(channels, channels, 1, bias=False)
        self.ffn = ATEMResidualBlock(channels)

    def forward(self,
                x: torch.Tensor,
                adj: torch.Tensor,
                edge_weights: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Update nodes.

        Args:
            x (Tensor): Nodes (B, C, K, 1).
            adj (Tensor): Boolean adjacency (B, K, K).
            edge_weights (Tensor, optional): (B, K, K); when given, the
                attention logits are multiplied by them before the masked
                softmax (the release does this at test time).

        Returns:
            Tensor: Nodes (B, C, K, 1).
        """
        feat = self.proj(x).squeeze(-1)  # B, C, K
        logits = torch.einsum('bck,bcm->bkm', feat, feat) / math.sqrt(
            feat.shape[1])
        if edge_weights is not None:
            logits = logits * edge_weights
        attn = logits.masked_fill(~adj, float('-inf')).softmax(-1)
        messages = attn @ F.elu(feat).transpose(1, 2)  # B, K, C
        messages = _instance_norm(messages[:, None])[:, 0]
        return self.ffn(x + messages.transpose(1, 2)[..., None])


@MODELS.register_module()
class ATEMRefiner(BaseModule):
    """The released CMPC graph refinement network (ATEM).

    Node i of a query's graph is ``[query ; candidate_i]`` (2C). The network:
    InstanceNorm over each graph's K x 2C node map; a conv with a 1 x 2C
    kernel to ``net_channels`` + BatchNorm + ReLU; ``num_layers``
    :class:`ATEMAttentionBlock`; a 1x1 conv giving one logit per node.

    Scores (``refine_inference`` of the release):

    .. math::
        s_i = q \\cdot \\frac{h_i}{\\lVert h_i \\rVert}

    with h_i the final node feature; they need ``net_channels`` = C.

    Edges: :func:`cmpc_feature_adjacency` on the candidates, ``num_edges``
    per node, and the attention is masked by the 0/1 adjacency (released
    ``edge_weight: false``). ``released=True`` reproduces two quirks of the
    release: the neighbours are ranked by ``exp(-d / edge_sigma)``, which
    underflows to ties for ``edge_sigma`` = 0.0005, and in eval mode the
    attention logits are multiplied by those weights (``refine_inference``
    passes the weights where training passes the adjacency), which makes
    the test-time attention uniform over the neighbours. ``released=False``
    ranks neighbours by distance and uses the same attention in training and
    test.

    Args:
        feat_channels (int): Query / candidate width C. Defaults to 2048.
        net_channels (int): Node width inside the network. Defaults to 2048.
        num_layers (int): Attention blocks. Defaults to 4.
        num_edges (int): Neighbours per node. Defaults to 5.
        edge_sigma (float): Bandwidth of the edge weights. Defaults to 5e-4.
        released (bool): Released edge ranking and test-time attention.
            Defaults to False.
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self,
                 feat_channels: int = 2048,
                 net_channels: int = 2048,
                 num_layers: int = 4,
                 num_edges: int = 5,
                 edge_sigma: float = 5e-4,
                 released: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if net_channels != feat_channels:
            raise ValueError(
                'the score q . unit(h) needs net_channels == feat_channels, '
                f'got {net_channels} and {feat_channels}')
        self.feat_channels = feat_channels
        self.num_edges = num_edges
        self.edge_sigma = edge_sigma
        self.released = released
        self.conv_in = nn.Sequential(
            nn.Conv2d(1, net_channels, (1, 2 * feat_channels)),
            nn.BatchNorm2d(net_channels), nn.ReLU(inplace=True))
        self.layers = nn.ModuleList(
            ATEMAttentionBlock(net_channels) for _ in range(num_layers))
        self.score_conv = nn.Conv2d(net_channels, 1, 1)

    @property
    def needs_positions(self) -> bool:
        """ATEM with feature edges does not use positions."""
        return False

    def graph(self, cand_feats: torch.Tensor
              ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Adjacency of the candidates and the attention edge weights.

        Args:
            cand_feats (Tensor): Candidates (B, K, C).

        Returns:
            tuple[Tensor, Tensor | None]: Boolean adjacency (B, K, K), and
            the weights that scale the attention logits (released mode in
            eval only; None otherwise).
        """
        adj = cmpc_feature_adjacency(cand_feats, self.num_edges,
                                     self.edge_sigma, self.released)
        if not self.released or self.training:
            return adj, None
        weights = cmpc_edge_weights(cand_feats, self.edge_sigma)
        return adj, weights.masked_fill(~adj, 0)

    def forward_graph(self,
                      nodes: torch.Tensor,
                      adj: torch.Tensor,
                      edge_weights: Optional[torch.Tensor] = None
                      ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Run the network on node inputs.

        Args:
            nodes (Tensor): Node inputs (B, K, 2C).
            adj (Tensor): Boolean adjacency (B, K, K).
            edge_weights (Tensor, optional): Attention logit scales
                (B, K, K).

        Returns:
            tuple[Tensor, Tensor]: Node logits (B, K) and node features
            (B, K, net_channels).
        """
        x = self.conv_in(_instance_norm(nodes[:, None]))  # B, C', K, 1
        for layer in self.layers:
            x = layer(x, adj, edge_weights)
        node_logits = self.score_conv(x).flatten(1)
        return node_logits, x.squeeze(-1).transpose(1, 2)

    def forward(self,
                query_feats: torch.Tensor,
                cand_feats: torch.Tensor,
                coarse_sim: Optional[torch.Tensor] = None,
                cand_pos: Optional[torch.Tensor] = None) -> RefinerOutput:
        """Refine the candidates of each query.

        Args:
            query_feats (Tensor): Queries (B, C), L2-normalised.
            cand_feats (Tensor): Candidates (B, K, C), ordered by coarse
                similarity.
            coarse_sim (Tensor, optional): Unused (no shortcut, as
                released).
            cand_pos (Tensor, optional): Unused.

        Returns:
            RefinerOutput: Node logits and ``q . unit(h_i)`` scores (B, K).
        """
        num_cands = cand_feats.shape[1]
        nodes = torch.cat(
            [query_feats[:, None].expand(-1, num_cands, -1), cand_feats], -1)
        node_logits, node_feats = self.forward_graph(
            nodes, *self.graph(cand_feats))
        scores = torch.einsum('bc,bkc->bk', query_feats,
                              F.normalize(node_feats, dim=-1))
        return RefinerOutput(node_logits, scores)
