# HRSSD in COCO format (SDCoNet's "HRSSD-Split", 13 classes), 512 px tiles,
# laid out as NWPU VHR-10:
#   data/HRSSD_Split/{train,test}/images/*.jpg
#   data/HRSSD_Split/{train,test}/annotations/instances.json
_base_ = './nwpu_vhr10.py'

custom_imports = dict(
    imports=['mmosar.datasets.hrssd'], allow_failed_imports=False)
data_root = 'data/HRSSD_Split/'

train_dataloader = dict(dataset=dict(type='HRSSDDataset', data_root=data_root))
val_dataloader = dict(dataset=dict(type='HRSSDDataset', data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'test/annotations/instances.json')
test_evaluator = val_evaluator
