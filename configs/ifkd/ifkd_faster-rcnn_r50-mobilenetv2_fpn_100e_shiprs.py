# IFKD on ShipRSImageNet: Faster R-CNN ResNet-50 teacher -> MobileNetV2 student.
_base_ = './ifkd_faster-rcnn_r50-r18_fpn_100e_shiprs.py'

model = dict(student='configs/ifkd/faster-rcnn_mobilenetv2_fpn_100e_shiprs.py')
