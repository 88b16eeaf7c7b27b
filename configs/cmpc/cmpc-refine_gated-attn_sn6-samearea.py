# mmosar's gated attention refiner (a redesign, not the released network):
# LayerNorm attention layers of width 512 whose node score is added to the
# coarse similarity through a learnable gate initialised to 0, CE with
# temperature 0.1. See configs/cmpc/README.md for when it helps.
_base_ = './cmpc-refine_atem_sn6-samearea.py'

model = dict(
    temperature=0.1,
    refiner=dict(
        _delete_=True,
        type='AttentionGraphRefiner',
        feat_channels=2048,
        hidden_channels=512,
        num_layers=4,
        num_edges=5,
        edge_source='feature',
        use_positions=False))
