# Toy CPU run on the synthetic SN6-CMPC folder written by
#   python tools/data/make_toy_sn6cmpc.py \
#       ../shared/data/3mos_pairs data/sn6cmpc_toy
# (real 3MOS images, synthetic metre positions): exercises the SN6-CMPC
# loader and the metre-level localisation metric. Evaluated on the test split.
_base_ = './cmpc-embed_r18-wd_3mos-toy.py'

data_root = 'data/sn6cmpc_toy'
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='SN6CMPCDataset',
        data_root=data_root,
        split='train',
        mode='pair',
        pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='SN6CMPCDataset',
        data_root=data_root,
        split='test',
        mode='all',
        pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader
val_evaluator = dict(topk=(1, 5, 10), dist_thrs=(50, 100, 150))
test_evaluator = val_evaluator
