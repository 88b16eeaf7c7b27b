# TOY two-stage IFKD: Faster R-CNN R50 -> R18 (RPN objectness distilled).
_base_ = './ifkd_retinanet_r50-r18_fpn_toy_sar-aircraft.py'

model = dict(
    student='configs/ifkd/toy/faster-rcnn_r18_fpn_toy_sar-aircraft.py',
    teacher_config='configs/ifkd/toy/faster-rcnn_r50_fpn_toy_sar-aircraft.py')
