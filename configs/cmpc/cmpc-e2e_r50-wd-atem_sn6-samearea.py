# End-to-end CMPC inference: embed SAR queries, coarse search in the embedded
# test database, graph refinement of the top 10. Test only:
#   python tools/cmpc/embed_database.py \
#       configs/cmpc/cmpc-embed_r50-wd_sn6-samearea.py STAGE1.pth \
#       --out work_dirs/cmpc/test_database.npz
#   python tools/test.py configs/cmpc/cmpc-e2e_r50-wd-atem_sn6-samearea.py \
#       STAGE2.pth --cfg-options model.embedder_checkpoint=STAGE1.pth
# (the checkpoint given to tools/test.py is loaded into the whole model; the
# stage-2 checkpoint holds the `refiner.*` weights, the stage-1 weights come
# from model.embedder_checkpoint.) `refiner` must equal the `model.refiner`
# of the stage-2 config that produced the checkpoint (here
# cmpc-refine_atem_sn6-samearea.py); mmengine loads `load_from` with
# strict=False, so a mismatch only shows up as a warning.
_base_ = './cmpc-embed_r50-wd_sn6-samearea.py'  # runtime, data, embedder

model = dict(
    _delete_=True,
    type='CMPCRetriever',
    embedder={{_base_.model}},
    embedder_checkpoint=None,
    reference_bank='work_dirs/cmpc/test_database.npz',
    node_topk=10,
    refiner=dict(
        type='AttentionGraphRefiner',
        feat_channels=2048,
        hidden_channels=512,
        num_layers=4,
        num_edges=5,
        edge_source='feature',
        use_positions=False))

test_dataloader = dict(dataset=dict(mode='query'))
val_dataloader = test_dataloader
