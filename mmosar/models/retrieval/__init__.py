"""CMPC: cross-modal patch correspondence (SAR-to-optical retrieval and
localisation) with graph refinement."""
from .atem import (
                   ATEMAttentionBlock,
                   ATEMRefiner,
                   ATEMResidualBlock,
                   RefinerOutput,
                   cmpc_edge_weights,
                   cmpc_feature_adjacency,
)
from .cmpc_converter import convert_cmpc, load_cmpc_weights
from .cmpc_embedder import CMPCEmbedder
from .cmpc_refinement import CMPCGraphRefinement, CMPCRetriever
from .cross_modal_triplet_loss import CrossModalTripletLoss
from .data_preprocessor import RetrievalDataPreprocessor
from .embedding_head import CrossModalEmbeddingHead
from .graph_refiner import (
                   AttentionGraphRefiner,
                   MaskedGraphAttentionLayer,
                   knn_adjacency,
)
from .optim_constructor import SubmoduleOptimWrapperConstructor
from .wasserstein_critic import ModalityWassersteinCritic

__all__ = [
    'ATEMRefiner', 'ATEMAttentionBlock', 'ATEMResidualBlock', 'RefinerOutput',
    'cmpc_edge_weights', 'cmpc_feature_adjacency', 'convert_cmpc',
    'load_cmpc_weights',
    'CMPCEmbedder', 'CMPCGraphRefinement', 'CMPCRetriever',
    'CrossModalTripletLoss', 'RetrievalDataPreprocessor',
    'CrossModalEmbeddingHead',
    'AttentionGraphRefiner', 'MaskedGraphAttentionLayer', 'knn_adjacency',
    'SubmoduleOptimWrapperConstructor', 'ModalityWassersteinCritic'
]
