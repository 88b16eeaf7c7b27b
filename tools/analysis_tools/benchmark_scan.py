"""Benchmark the selective scan: chunked parallel path vs sequential baseline.

Times forward and backward of the scan, by default at b=2, d=512,
l=2*64*64 (the joint optical+SAR sequence of a 64x64 P3 map), n=16, with 2
B/C groups (CMIM scans two directions as groups) and ``delta_softplus``
(CMIM at P3 runs this with d=1024: 512 channels per direction), and
reports peak memory. Each method runs in its own
subprocess, so the CPU peak (``ru_maxrss``) of one does not hide the other;
on CUDA ``torch.cuda.max_memory_allocated`` is used. Besides wall-clock
time the CPU time of the process (all threads) is printed: on a shared
machine wall time mostly measures the other processes.

Example::

    python tools/analysis_tools/benchmark_scan.py
    python tools/analysis_tools/benchmark_scan.py --skip-baseline --length 4096
    python tools/analysis_tools/benchmark_scan.py --device cuda

On a machine shared with other jobs compare the ``cpu`` column (process
CPU time) and use ``--threads 1``: wall time then mostly measures the
other jobs, and idle OpenMP threads spin.
"""
import argparse
import json
import resource
import subprocess
import sys
import time

import torch

METHODS = {
    'chunked': 'chunked parallel scan (pure PyTorch)',
    'auto': 'selective_scan default backend',
    'baseline': 'sequential recurrence (selective_scan_ref)',
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--dim', type=int, default=512, help='channels d')
    parser.add_argument(
        '--length', type=int, default=2 * 64 * 64, help='sequence length l')
    parser.add_argument('--state', type=int, default=16, help='state size n')
    parser.add_argument(
        '--groups', type=int, default=2, help='B/C groups (CMIM: 2)')
    parser.add_argument(
        '--chunk-size', type=int, default=None,
        help='tokens per chunk (default: default_chunk_size of the shape)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument(
        '--repeats', type=int, default=1,
        help='timed runs; the fastest forward and backward are reported')
    parser.add_argument(
        '--warmup', type=int, default=1,
        help='untimed full-size forward+backward runs before timing')
    parser.add_argument(
        '--methods', nargs='+', default=['chunked', 'baseline'],
        choices=sorted(METHODS))
    parser.add_argument(
        '--skip-baseline', action='store_true',
        help='do not run the (slow) sequential baseline')
    parser.add_argument('--worker', choices=sorted(METHODS), help='internal')
    return parser.parse_args()


def make_inputs(args: argparse.Namespace) -> list:
    gen = torch.Generator().manual_seed(0)
    b, d, length, n, g = (args.batch, args.dim, args.length, args.state,
                          args.groups)

    def rand(*shape, scale=1.0):
        return (torch.randn(*shape, generator=gen) * scale).to(args.device)

    u = rand(b, d, length)
    delta = rand(b, d, length, scale=0.5) - 4.0  # softplus -> ~0.02
    A = -torch.arange(1, n + 1, dtype=torch.float32).repeat(d, 1)
    A = A.to(args.device)
    B = rand(b, g, n, length)
    C = rand(b, g, n, length)
    D = torch.ones(d, device=args.device)
    delta_bias = rand(d, scale=0.1)
    tensors = [u, delta, A, B, C, D, delta_bias]
    return [t.requires_grad_() for t in tensors]


def run_worker(args: argparse.Namespace) -> dict:
    from mmosar.models.layers.selective_scan import (
        selective_scan,
        selective_scan_chunked,
        selective_scan_ref,
    )
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = args.device.startswith('cuda')

    def sync():
        if cuda:
            torch.cuda.synchronize()

    if args.worker == 'chunked':
        def scan(*xs, **kw):
            return selective_scan_chunked(
                *xs, chunk_size=args.chunk_size, **kw)
    elif args.worker == 'auto':
        scan = selective_scan
    else:
        scan = selective_scan_ref
    inputs = make_inputs(args)
    u, delta, A, B, C, D, delta_bias = inputs
    # Peak memory counts from here, before the warm-up run.
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # One full-size forward + backward before timing (``--warmup 1``), as
    # in a training loop after its first iteration: the first call at a new
    # size pays for fresh memory from the OS (page faults, about 2 s of
    # system time here for the chunked path), which later calls reuse.
    # ``--warmup 0`` times that cold first call instead.
    for _ in range(args.warmup):
        y = scan(u, delta, A, B, C, D, delta_bias=delta_bias,
                 delta_softplus=True)
        y.sum().backward()
        del y
        for t in inputs:
            t.grad = None
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        base_alloc = torch.cuda.memory_allocated()
    fwd_times, bwd_times, cpu_times = [], [], []
    for _ in range(args.repeats):
        sync()
        start, cpu_start = time.perf_counter(), time.process_time()
        y = scan(u, delta, A, B, C, D, delta_bias=delta_bias,
                 delta_softplus=True)
        sync()
        mid = time.perf_counter()
        y.sum().backward()
        sync()
        end, cpu_end = time.perf_counter(), time.process_time()
        fwd_times.append(mid - start)
        bwd_times.append(end - mid)
        cpu_times.append(cpu_end - cpu_start)
        del y
        for t in inputs:
            t.grad = None
    result = dict(
        method=args.worker,
        forward_s=min(fwd_times),
        backward_s=min(bwd_times),
        cpu_s=min(cpu_times),
        threads=torch.get_num_threads())
    if cuda:
        result['peak_mem_mib'] = (torch.cuda.max_memory_allocated() -
                                  base_alloc) / 2**20
        result['mem_kind'] = 'torch.cuda.max_memory_allocated delta'
    else:
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result['peak_mem_mib'] = (rss_after - rss_before) / 1024
        result['mem_kind'] = 'ru_maxrss delta'
    return result


def main() -> None:
    args = parse_args()
    if args.worker:
        print(json.dumps(run_worker(args)))
        return
    methods = [m for m in args.methods
               if not (args.skip_baseline and m == 'baseline')]
    print(f'selective scan fwd+bwd: b={args.batch} d={args.dim} '
          f'l={args.length} n={args.state} groups={args.groups} '
          f'device={args.device} chunk={args.chunk_size or "auto"} '
          f'warmup={args.warmup} repeats={args.repeats}', flush=True)
    results = {}
    passthrough = [a for a in sys.argv[1:] if a != '--skip-baseline']
    for method in methods:
        cmd = [sys.executable, __file__, *passthrough, '--worker', method]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode:
            print(f'{method}: failed\n{out.stderr}', flush=True)
            continue
        res = json.loads(out.stdout.strip().splitlines()[-1])
        results[method] = res
        print(f"{METHODS[method]:45s} fwd {res['forward_s']:8.3f} s  "
              f"bwd {res['backward_s']:8.3f} s  total "
              f"{res['forward_s'] + res['backward_s']:8.3f} s  cpu "
              f"{res['cpu_s']:8.3f} s  peak "
              f"{res['peak_mem_mib']:8.1f} MiB ({res['mem_kind']}, "
              f"{res['threads']} threads)", flush=True)
    if 'baseline' in results and 'chunked' in results:
        total = {k: v['forward_s'] + v['backward_s']
                 for k, v in results.items()}
        cpu = {k: v['cpu_s'] for k, v in results.items()}
        print(f"speed-up chunked vs baseline: wall "
              f"{total['baseline'] / total['chunked']:.1f}x, cpu time "
              f"{cpu['baseline'] / cpu['chunked']:.1f}x")


if __name__ == '__main__':
    main()
