# Ablation of E2E-OSDet on M4-SAR: CMIM (Cross-modal Mamba Interaction
# Module) off: the two streams never exchange features before fusion.
# Everything else is the paper recipe.
_base_ = './e2e-osdet_yolo11s-obb_300e_m4sar.py'

model = dict(backbone=dict(use_cmim=False))
