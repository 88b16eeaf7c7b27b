# CFT, Cross-Modality Fusion Transformer (Qingyun et al., PR 2022), in the
# M4-SAR benchmark: two YOLO11s streams, a CFT interaction (8 self-attention
# blocks over both modalities' 8x8 pooled tokens) after P2, P3, P4 and P5,
# fused maps = sum of the streams, C2PSA on P5; the E2E-OSDet recipe.
# Released yaml: yolo11-obb-CFT.yaml.
_base_ = '../e2e_osdet/e2e-osdet_yolo11s-obb_300e_m4sar.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='TwoStreamFusionBackbone',
        arch='s',
        modality_channels={{_base_.modality_channels}},
        interaction=dict(type='CrossModalityFusionTransformer'),
        interaction_levels=('p2', 'p3', 'p4', 'p5'),
        fusion=dict(type='AddFusion')))
