# TOY CALNet (tests, CPU smoke runs; not for accuracy): the fusion of
# calnet_yolo11s-obb_300e_m4sar.py on the E2E-OSDet toy recipe (1/8 width,
# 256 px synthetic pairs) with 4x smaller token grids (the released 40 / 20 /
# 10 grids do not depend on the map size and dominate a toy's run time).
# Generate the pairs first:
#   python tools/data/make_toy_m4sar.py data/toy_m4sar --img-size 256
_base_ = '../e2e_osdet/e2e-osdet_yolo11n-obb_toy_m4sar.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='TwoStreamFusionBackbone',
        arch='n',
        widen_factor={{_base_.widen_factor}},
        modality_channels={{_base_.modality_channels}},
        interaction=dict(type='CALNetCrossTransformer'),
        interaction_levels=('p3', 'p4', 'p5'),
        interaction_overrides=dict(
            p3=dict(grid_size=(10, 10), sr_ratio=3, num_layers=3),
            p4=dict(grid_size=(5, 5), sr_ratio=2, num_layers=6),
            p5=dict(grid_size=(3, 3), sr_ratio=1, num_layers=3)),
        fusion=dict(type='AddFusion')))
