# Ablation of E2E-OSDet on M4-SAR: AFM (Area-attention Fusion Module) off:
# each level is fused by a plain sum of the two streams (TwoStreamBackbone
# fallback_fusion='add'). Everything else is the paper recipe.
_base_ = './e2e-osdet_yolo11s-obb_300e_m4sar.py'

model = dict(backbone=dict(use_afm=False))
