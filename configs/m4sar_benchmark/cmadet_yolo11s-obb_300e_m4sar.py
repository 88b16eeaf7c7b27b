# CMADet as the M4-SAR benchmark builds it: two YOLO11s streams, an OSR
# interaction (4-block CFT + CEM channel weights) after P2, P3, P4 and P5,
# CMA fusion (one affine warp of the optical map per image, 1x1 fusion, then
# FRM rectification) at P3, P4 and P5, C2PSA on P5; the E2E-OSDet recipe.
# Released yaml: yolo11-obb-CMADet.yaml.
_base_ = '../e2e_osdet/e2e-osdet_yolo11s-obb_300e_m4sar.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='TwoStreamFusionBackbone',
        arch='s',
        modality_channels={{_base_.modality_channels}},
        interaction=dict(type='OSRInteraction'),
        interaction_levels=('p2', 'p3', 'p4', 'p5'),
        fusion=dict(type='CrossModalAlignment')))
