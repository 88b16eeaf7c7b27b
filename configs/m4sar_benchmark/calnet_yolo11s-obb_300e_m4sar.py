# CALNet (He et al., ACM MM 2023) as the M4-SAR benchmark builds it: two
# YOLO11s streams, a cross-attention transformer (per-modality keys/values
# with spatial reduction 3 / 2 / 1, 3 / 6 / 3 blocks, fixed 40 / 20 / 10
# token grids) after P3, P4 and P5, fused maps = sum of the streams, C2PSA on
# P5; the E2E-OSDet recipe. Released yaml: yolo11-obb-CALNet.yaml.
_base_ = '../e2e_osdet/e2e-osdet_yolo11s-obb_300e_m4sar.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='TwoStreamFusionBackbone',
        arch='s',
        modality_channels={{_base_.modality_channels}},
        interaction=dict(type='CALNetCrossTransformer'),
        interaction_levels=('p3', 'p4', 'p5'),
        interaction_overrides=dict(
            p3=dict(grid_size=(40, 40), sr_ratio=3, num_layers=3),
            p4=dict(grid_size=(20, 20), sr_ratio=2, num_layers=6),
            p5=dict(grid_size=(10, 10), sr_ratio=1, num_layers=3)),
        fusion=dict(type='AddFusion')))
