# TOY MMIDet (tests, CPU smoke runs; not for accuracy): mmidet_yolo11s-obb_300e_m4sar.py at
# the toy scale of cft_yolo11n-obb_toy_m4sar.py.
_base_ = './cft_yolo11n-obb_toy_m4sar.py'

model = dict(
    backbone=dict(
        interaction_overrides=dict(p2=dict(type='MMIFourierInteraction'))))
