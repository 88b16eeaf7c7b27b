"""A gated attention refiner over the top-K CMPC candidates (mmosar's
redesign; the released network is :class:`~.atem.ATEMRefiner`)."""
import math
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmosar.registry import MODELS

from .atem import RefinerOutput


def knn_adjacency(points: torch.Tensor, num_neighbors: int) -> torch.Tensor:
    """Directed k-nearest-neighbour adjacency inside each graph.

    Args:
        points (Tensor): Node coordinates, shape (B, K, D).
        num_neighbors (int): Neighbours per node (self excluded); clipped to
            K - 1.

    Returns:
        Tensor: Boolean adjacency, shape (B, K, K); ``adj[b, i, j]`` is True
        when node j is one of node i's nearest neighbours.
    """
    num_nodes = points.shape[1]
    k = min(num_neighbors, num_nodes - 1)
    if k < 1:
        raise ValueError(f'a graph needs at least 2 nodes, got {num_nodes}')
    dist = torch.cdist(points, points)
    eye = torch.eye(num_nodes, dtype=torch.bool, device=points.device)
    dist = dist.masked_fill(eye, float('inf'))
    neighbors = dist.topk(k, dim=-1, largest=False).indices
    adj = torch.zeros_like(dist, dtype=torch.bool)
    return adj.scatter_(-1, neighbors, True)


class MaskedGraphAttentionLayer(nn.Module):
    """One message-passing layer: attention restricted to the kNN edges.

    ``f = W x``; attention logits ``f_i . f_j / sqrt(C)`` only on edges,
    softmax over each node's neighbours, messages ``ELU(f_j)``; the
    aggregated message is normalised and added to the input, followed by a
    residual feed-forward block.

    Args:
        channels (int): Node feature width.
        dropout (float): Dropout on the messages. Defaults to 0.
    """

    def __init__(self, channels: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.proj = nn.Linear(channels, channels, bias=False)
        self.message_norm = nn.LayerNorm(channels)
        self.ffn = nn.Sequential(
            nn.Linear(channels, channels), nn.LayerNorm(channels),
            nn.ReLU(inplace=True), nn.Linear(channels, channels))
        self.ffn_norm = nn.LayerNorm(channels)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        """Update node features.

        Args:
            x (Tensor): Node features, shape (B, K, C).
            adj (Tensor): Boolean adjacency, shape (B, K, K).

        Returns:
            Tensor: Updated node features, shape (B, K, C).
        """
        f = self.proj(x)
        logits = f @ f.transpose(1, 2) / math.sqrt(f.shape[-1])
        attn = logits.masked_fill(~adj, float('-inf')).softmax(-1)
        messages = attn @ F.elu(f)
        x = x + self.dropout(self.message_norm(messages))
        return x + self.ffn_norm(self.ffn(x))


@MODELS.register_module()
class AttentionGraphRefiner(BaseModule):
    """Re-rank the top-K references of a query with a candidate graph.

    Nodes are the K candidates; node i's input is the concatenation of the
    query feature and candidate i's feature (``node_func='cat'`` of CMPC),
    optionally plus an encoding of the candidate position relative to the
    candidates' centroid. Edges link each node to its ``num_edges`` nearest
    candidates, measured on the L2-normalised candidate features
    (``edge_source='feature'``, the released main setting) or on the
    positions (``'position'``). ``num_layers`` masked-attention layers
    update the nodes and a linear head gives each node a score.

    The refined similarity is a residual on the coarse one::

        refined_i = coarse_i + gate * score_i

    with the learnable scalar ``gate`` initialised to 0, so an untrained
    refiner returns the coarse ranking unchanged and training moves away
    from it only as far as the losses ask (released code: ``shortcut``).

    Args:
        feat_channels (int): Width of query/candidate features. Defaults to
            2048.
        hidden_channels (int): Node width after the input projection.
            Defaults to 512.
        num_layers (int): Attention layers. Defaults to 4.
        num_edges (int): Neighbours per node. Defaults to 5.
        edge_source (str): ``'feature'`` or ``'position'``. Defaults to
            ``'feature'``.
        use_positions (bool): Add a position encoding to node inputs.
            Defaults to False.
        pos_scale (float): Metres per unit of the position encoding input.
            Defaults to 100.
        dropout (float): Dropout in the attention layers. Defaults to 0.
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self,
                 feat_channels: int = 2048,
                 hidden_channels: int = 512,
                 num_layers: int = 4,
                 num_edges: int = 5,
                 edge_source: str = 'feature',
                 use_positions: bool = False,
                 pos_scale: float = 100.0,
                 dropout: float = 0.0,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if edge_source not in ('feature', 'position'):
            raise ValueError(f"edge_source must be 'feature' or 'position', "
                             f'got {edge_source!r}')
        self.feat_channels = feat_channels
        self.num_edges = num_edges
        self.edge_source = edge_source
        self.use_positions = use_positions
        self.pos_scale = pos_scale
        self.input_proj = nn.Sequential(
            nn.Linear(2 * feat_channels, hidden_channels),
            nn.LayerNorm(hidden_channels), nn.ReLU(inplace=True))
        self.pos_encoder = nn.Sequential(
            nn.Linear(2, hidden_channels // 2), nn.ReLU(inplace=True),
            nn.Linear(hidden_channels // 2,
                      hidden_channels)) if use_positions else None
        self.layers = nn.ModuleList(
            MaskedGraphAttentionLayer(hidden_channels, dropout)
            for _ in range(num_layers))
        self.score_head = nn.Linear(hidden_channels, 1)
        self.gate = nn.Parameter(torch.zeros(1))

    @property
    def needs_positions(self) -> bool:
        """Whether candidate positions must be given."""
        return self.use_positions or self.edge_source == 'position'

    def forward(self,
                query_feats: torch.Tensor,
                cand_feats: torch.Tensor,
                coarse_sim: torch.Tensor,
                cand_pos: Optional[torch.Tensor] = None) -> RefinerOutput:
        """Refined similarities of the candidates.

        Args:
            query_feats (Tensor): Query features, shape (B, C).
            cand_feats (Tensor): Candidate features, shape (B, K, C).
            coarse_sim (Tensor): Coarse query-candidate similarities (B, K).
            cand_pos (Tensor, optional): Candidate positions in metres,
                shape (B, K, 2); required for position edges or encoding.

        Returns:
            RefinerOutput: The refined similarities (B, K) serve as both the
            node logits and the scores.
        """
        if self.needs_positions and cand_pos is None:
            raise ValueError('this refiner uses positions but cand_pos is '
                             'None (the reference bank has no positions)')
        num_cands = cand_feats.shape[1]
        nodes = torch.cat(
            [query_feats[:, None].expand(-1, num_cands, -1), cand_feats], -1)
        x = self.input_proj(nodes)
        if self.use_positions:
            rel_pos = cand_pos - cand_pos.mean(1, keepdim=True)
            x = x + self.pos_encoder(rel_pos / self.pos_scale)
        if self.edge_source == 'feature':
            adj = knn_adjacency(F.normalize(cand_feats, dim=-1),
                                self.num_edges)
        else:
            adj = knn_adjacency(cand_pos, self.num_edges)
        for layer in self.layers:
            x = layer(x, adj)
        refined = coarse_sim + self.gate * self.score_head(x).squeeze(-1)
        return RefinerOutput(refined, refined)
