"""Slow smoke run of the whole CMPC tool chain on the toy SN6-CMPC folder:
train the embedder (tiny), embed database and caches, train the refinement,
evaluate end to end, retrieve for new queries."""
import importlib.util
import subprocess
import sys

import pytest
from mmengine.config import Config
from mmengine.runner import Runner

TINY = dict(
    backbone=dict(base_channels=8),
    head=dict(in_channels=64, proj_channels=32),
    critic=dict(in_channels=32, hidden_channels=32))


def _run_tool(repo_root, script, *args):
    result = subprocess.run([sys.executable, str(repo_root / script), *args],
                            cwd=repo_root,
                            capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.slow
def test_cmpc_tool_chain(shared_data, repo_root, tmp_path):
    spec = importlib.util.spec_from_file_location(
        'make_toy', repo_root / 'tools/data/make_toy_sn6cmpc.py')
    make_toy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_toy)
    data_root = tmp_path / 'sn6toy'
    make_toy.make_toy_sn6cmpc(
        str(shared_data / '3mos_pairs'), str(data_root), max_per_strip=5)

    # stage 1
    embed_cfg = Config.fromfile(
        str(repo_root / 'configs/cmpc/cmpc-embed_r18-wd_sn6-toy.py'))
    embed_cfg.merge_from_dict(
        dict(
            model=TINY,
            work_dir=str(tmp_path / 'embed'),
            train_cfg=dict(max_epochs=2, val_interval=2),
            default_hooks=dict(checkpoint=dict(interval=2))))
    for split in ('train', 'val', 'test'):
        embed_cfg[f'{split}_dataloader'].dataset.data_root = str(data_root)
    embed_cfg_path = str(tmp_path / 'embed_cfg.py')
    embed_cfg.dump(embed_cfg_path)
    runner = Runner.from_cfg(embed_cfg)
    runner.train()
    ckpt = str(tmp_path / 'embed' / 'epoch_2.pth')

    # caches and database
    caches = {}
    for split in ('train', 'test'):
        caches[split] = str(tmp_path / f'{split}_embeddings.npz')
        out = _run_tool(repo_root, 'tools/cmpc/embed_database.py',
                        embed_cfg_path, ckpt, '--dataloader', split,
                        '--with-queries', '--out', caches[split])
        assert 'queries' in out
    database = str(tmp_path / 'database.npz')
    _run_tool(repo_root, 'tools/cmpc/embed_database.py', embed_cfg_path,
              ckpt, '--out', database)

    # stage 2 on the caches
    refine_cfg = Config.fromfile(
        str(repo_root / 'configs/cmpc/cmpc-refine_atem_sn6-samearea.py'))
    refine_cfg.merge_from_dict(
        dict(
            model=dict(
                reference_bank=caches['train'],
                eval_reference_bank=caches['test'],
                node_topk=5,
                refiner=dict(feat_channels=64, net_channels=64,
                             num_edges=3)),
            train_dataloader=dict(
                dataset=dict(cache_file=caches['train'])),
            val_dataloader=dict(dataset=dict(cache_file=caches['test'])),
            test_dataloader=dict(dataset=dict(cache_file=caches['test'])),
            train_cfg=dict(max_epochs=2, val_interval=2),
            default_hooks=dict(checkpoint=dict(interval=2)),
            work_dir=str(tmp_path / 'refine')))
    runner = Runner.from_cfg(refine_cfg)
    runner.train()
    refine_metrics = runner.val_loop.run()
    assert 'retrieval/loc_acc@100m' in refine_metrics

    # end to end on raw SAR queries
    e2e_cfg = Config.fromfile(
        str(repo_root / 'configs/cmpc/cmpc-e2e_r50-wd-atem_sn6-samearea.py'))
    e2e_cfg.merge_from_dict(
        dict(
            model=dict(
                embedder=embed_cfg.model,
                embedder_checkpoint=ckpt,
                refiner_checkpoint=str(tmp_path / 'refine' / 'epoch_2.pth'),
                reference_bank=database,
                node_topk=5,
                refiner=refine_cfg.model.refiner),
            test_dataloader=dict(
                dataset=dict(
                    data_root=str(data_root),
                    mode='query',
                    pipeline=embed_cfg.test_dataloader.dataset.pipeline)),
            work_dir=str(tmp_path / 'e2e')))
    e2e_metrics = Runner.from_cfg(e2e_cfg).test()
    # same embeddings and refiner as the cached path: same figures
    for key in ('retrieval/recall@1', 'retrieval/mrr',
                'retrieval/loc_acc@50m'):
        assert e2e_metrics[key] == pytest.approx(refine_metrics[key]), key

    # retrieval for new queries
    queries = sorted((data_root / 'test/imgs/sar').glob('*.png'))[:2]
    out = _run_tool(repo_root, 'tools/cmpc/retrieve.py', embed_cfg_path,
                    ckpt, database, *map(str, queries), '--topk', '3',
                    '--out-dir', str(tmp_path / 'vis'))
    assert out.count('#1 ') == 2
    assert len(list((tmp_path / 'vis').glob('*_top3.png'))) == 2
