# TOY IFKD RetinaNet R50 -> R18 (random teacher weights, 160 px input) for
# tests and CPU smoke runs. The EDE masks come from a small randomly
# initialised conv predictor run online (MobileSAM weights are not shipped).
# Run from the repository root (config paths below).
_base_ = [
    '../../_base_/models/ifkd_distiller.py',
    '../../_base_/datasets/sar_aircraft_toy.py',
    '../../_base_/schedules/ifkd_schedule_toy.py',
    '../../_base_/default_runtime.py'
]

model = dict(
    student='configs/ifkd/toy/retinanet_r18_fpn_toy_sar-aircraft.py',
    teacher_config='configs/ifkd/toy/retinanet_r50_fpn_toy_sar-aircraft.py',
    teacher_ckpt=None,
    ede_mask_source='external',
    external_model=dict(type='ConvMaskPredictor', width=8, depth=3))
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
