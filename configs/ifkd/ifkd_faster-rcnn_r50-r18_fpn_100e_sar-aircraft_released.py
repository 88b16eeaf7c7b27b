# Released mode of the two-stage detector (IFKDTwoStageDetector): as
# ifkd_retinanet_r50-mobilenetv2_fpn_100e_sar-aircraft_released.py with the
# RPN objectness distilled and EDE G(M * T) without the residual teacher.
_base_ = [
    './ifkd_faster-rcnn_r50-r18_fpn_100e_sar-aircraft.py',
    '../_base_/models/ifkd_modes.py'
]

model = dict(distill_loss={{_base_.ifkd_released_two_stage}})
