# Released mode end to end, from a released CMPC checkpoint
# (`results/<exp>/30_param.t`, {'model': ...}), converted while loading:
#   python tools/cmpc/embed_database.py \
#       configs/cmpc/cmpc-embed_r50-wd_sn6-samearea.py RELEASED.t \
#       --out work_dirs/cmpc/test_database.npz
#   python tools/model_converters/cmpc_to_mmosar.py RELEASED.t retriever.pth
#   python tools/test.py \
#       configs/cmpc/cmpc-e2e_r50-atem-released_sn6-samearea.py \
#       retriever.pth --cfg-options model.released_checkpoint=RELEASED.t
# (the model loads RELEASED.t strictly when built; tools/test.py's own,
# non-strict load of the converted retriever.pth rewrites the same values.)
# The released checkpoint has no Wasserstein critic (it lives in the loss),
# so the embedder is built without one.
_base_ = './cmpc-e2e_r50-wd-atem_sn6-samearea.py'

model = dict(
    embedder=dict(critic=None),
    released_checkpoint=None,
    refiner=dict(released=True))
