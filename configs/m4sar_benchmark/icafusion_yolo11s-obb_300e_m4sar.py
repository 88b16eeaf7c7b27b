# ICAFusion (Shen et al., PR 2024) in the M4-SAR benchmark: two complete
# YOLO11s streams (SPPF and C2PSA each), ICAFusion (dual cross-attention with
# learnable residual coefficients, 20x20 / 16x16 / 8x8 anchors) fusing P3, P4
# and P5; the E2E-OSDet recipe. Released yaml: yolo11-obb-ICAFusion.yaml.
_base_ = '../e2e_osdet/e2e-osdet_yolo11s-obb_300e_m4sar.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='TwoStreamFusionBackbone',
        arch='s',
        modality_channels={{_base_.modality_channels}},
        fusion=dict(type='ICAFusion'),
        fusion_overrides=dict(
            p3=dict(grid_size=(20, 20)),
            p4=dict(grid_size=(16, 16)),
            p5=dict(grid_size=(8, 8))),
        c2psa='stream'))
# the released residual coefficients are parameters named `bias` (no weight
# decay in Ultralytics); mmosar stacks them as `coefficients`
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys=dict(coefficients=dict(decay_mult=0.0))))
