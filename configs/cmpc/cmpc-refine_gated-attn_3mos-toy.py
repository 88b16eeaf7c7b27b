# The gated refiner on the same toy embeddings (compare with
# cmpc-refine_atem_3mos-toy.py; figures in configs/cmpc/README.md).
_base_ = './cmpc-refine_atem_3mos-toy.py'

model = dict(
    temperature=0.1,
    refiner=dict(
        _delete_=True,
        type='AttentionGraphRefiner',
        feat_channels=128,
        hidden_channels=64,
        num_layers=4,
        num_edges=5,
        edge_source='feature',
        use_positions=False))
