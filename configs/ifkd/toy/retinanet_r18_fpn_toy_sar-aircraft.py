# TOY IFKD student: retinanet R18 from random weights (see the toy teacher).
_base_ = './retinanet_r50_fpn_toy_sar-aircraft.py'

model = dict(
    backbone=dict(depth=18), neck=dict(in_channels=[64, 128, 256, 512]))
