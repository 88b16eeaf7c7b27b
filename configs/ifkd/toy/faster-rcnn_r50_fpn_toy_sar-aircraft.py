# TOY IFKD teacher for tests and CPU smoke runs (not for accuracy): faster-rcnn
# R50 from random weights on the SAR-AIRcraft samples, 160 px images.
_base_ = [
    '../../_base_/models/ifkd_faster-rcnn_r50_fpn.py',
    '../../_base_/datasets/sar_aircraft_toy.py',
    '../../_base_/schedules/ifkd_schedule_toy.py',
    '../../_base_/default_runtime.py'
]

model = dict(backbone=dict(init_cfg=None))
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
