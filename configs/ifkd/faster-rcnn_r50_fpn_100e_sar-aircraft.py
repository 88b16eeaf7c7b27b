# IFKD teacher: Faster R-CNN ResNet-50 + FPN on SAR-AIRcraft-1.0.
_base_ = [
    '../_base_/models/ifkd_faster-rcnn_r50_fpn.py',
    '../_base_/datasets/sar_aircraft.py',
    '../_base_/schedules/ifkd_schedule_100e.py',
    '../_base_/ifkd_runtime.py'
]
