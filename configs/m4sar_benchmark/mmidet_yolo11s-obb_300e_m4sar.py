# MMI-Det (Zeng et al., TCSVT 2024) as the M4-SAR benchmark builds it: CFT
# (cft_yolo11s-obb_300e_m4sar.py) with MMI-Det's gated Fourier interaction at
# P2 instead of CFT's. Released yaml: yolo11-obb-MMIDet.yaml.
_base_ = './cft_yolo11s-obb_300e_m4sar.py'

model = dict(
    backbone=dict(
        interaction_overrides=dict(p2=dict(type='MMIFourierInteraction'))))
