"""CMPC: cross-modal patch correspondence (SAR-to-optical retrieval and
localisation) with graph refinement."""
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
    'CMPCEmbedder', 'CMPCGraphRefinement', 'CMPCRetriever',
    'CrossModalTripletLoss', 'RetrievalDataPreprocessor',
    'CrossModalEmbeddingHead',
    'AttentionGraphRefiner', 'MaskedGraphAttentionLayer', 'knn_adjacency',
    'SubmoduleOptimWrapperConstructor', 'ModalityWassersteinCritic'
]
