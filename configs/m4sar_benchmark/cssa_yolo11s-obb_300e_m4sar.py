# CSSA (Cao et al., CVPRW 2023) in the M4-SAR benchmark: two YOLO11s streams
# without SPPF, CSSA (ECA channel switching + spatial attention) fusing P3,
# P4 and P5, then SPPF and C2PSA on the fused P5; the E2E-OSDet recipe.
# Released yaml: yolo11-obb-CSSA.yaml. See README.md.
_base_ = '../e2e_osdet/e2e-osdet_yolo11s-obb_300e_m4sar.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='TwoStreamFusionBackbone',
        arch='s',
        modality_channels={{_base_.modality_channels}},
        fusion=dict(type='CSSA'),
        sppf_after_fusion=True))
