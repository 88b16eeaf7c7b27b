# TOY ICAFusion (tests, CPU smoke runs; not for accuracy): the fusion of
# icafusion_yolo11s-obb_300e_m4sar.py on the E2E-OSDet toy recipe (1/8 width,
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
