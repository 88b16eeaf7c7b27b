# TOY CMADet (tests, CPU smoke runs; not for accuracy): the fusion of
# cmadet_yolo11s-obb_300e_m4sar.py on the E2E-OSDet toy recipe (1/8 width,
# 256 px synthetic pairs). Generate the pairs first:
#   python tools/data/make_toy_m4sar.py data/toy_m4sar --img-size 256
_base_ = '../e2e_osdet/e2e-osdet_yolo11n-obb_toy_m4sar.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='TwoStreamFusionBackbone',
        arch='n',
        widen_factor={{_base_.widen_factor}},
        modality_channels={{_base_.modality_channels}},
        interaction=dict(type='OSRInteraction'),
        interaction_levels=('p2', 'p3', 'p4', 'p5'),
        fusion=dict(type='CrossModalAlignment')))
