# Spatial variant of the gated refiner: kNN edges on reference positions and a position encoding
# added to the node features (released `same_advwd_gnn.json`: KNN_inner false).
_base_ = './cmpc-refine_gated-attn_sn6-samearea.py'

model = dict(refiner=dict(edge_source='position', use_positions=True))
