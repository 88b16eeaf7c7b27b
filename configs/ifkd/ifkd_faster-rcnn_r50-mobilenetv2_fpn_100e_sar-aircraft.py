# IFKD on SAR-AIRcraft-1.0: Faster R-CNN ResNet-50 teacher -> MobileNetV2 student.
_base_ = './ifkd_faster-rcnn_r50-r18_fpn_100e_sar-aircraft.py'

model = dict(student='configs/ifkd/faster-rcnn_mobilenetv2_fpn_100e_sar-aircraft.py')
