# End-to-end CMPC inference: embed SAR queries, coarse search in the embedded
# test database, ATEM refinement of the top 10. Test only:
#   python tools/cmpc/embed_database.py \
#       configs/cmpc/cmpc-embed_r50-wd_sn6-samearea.py STAGE1.pth \
#       --out work_dirs/cmpc/test_database.npz
#   python tools/test.py configs/cmpc/cmpc-e2e_r50-wd-atem_sn6-samearea.py \
#       STAGE2.pth --cfg-options model.embedder_checkpoint=STAGE1.pth \
#       model.refiner_checkpoint=STAGE2.pth
# The model loads both checkpoints strictly when it is built (a missing or
# unexpected key is an error listing them). tools/test.py needs a checkpoint
# argument too, which mmengine loads with strict=False: give STAGE2.pth again
# (it rewrites the same refiner weights). `refiner` must equal the
# `model.refiner` of the stage-2 config that produced STAGE2.pth (here
# cmpc-refine_atem_sn6-samearea.py).
_base_ = './cmpc-embed_r50-wd_sn6-samearea.py'  # runtime, data, embedder

model = dict(
    _delete_=True,
    type='CMPCRetriever',
    embedder={{_base_.model}},  # its `pretrained` is only read by training
    embedder_checkpoint=None,
    refiner_checkpoint=None,
    reference_bank='work_dirs/cmpc/test_database.npz',
    node_topk=10,
    refiner=dict(
        type='ATEMRefiner',
        feat_channels=2048,
        net_channels=2048,
        num_layers=4,
        num_edges=5,
        edge_sigma=5e-4,
        released=False))

test_dataloader = dict(dataset=dict(mode='query'))
val_dataloader = test_dataloader
