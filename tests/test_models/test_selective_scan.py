"""Chunked selective scan vs the sequential recurrence (values and grads)."""
import pytest
import torch

from mmosar.models.layers.selective_scan import (
    default_chunk_size,
    resolve_scan_backend,
    selective_scan,
    selective_scan_chunked,
    selective_scan_ref,
)

NAMES = ('u', 'delta', 'A', 'B', 'C', 'D', 'z', 'delta_bias')


def make_inputs(b, d, length, n, groups=None, delta_scale=1.0,
                dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)

    def rand(*shape, scale=1.0):
        return torch.randn(*shape, generator=gen, dtype=dtype) * scale

    bc_shape = (b, n, length) if groups is None else (b, groups, n, length)
    return dict(
        u=rand(b, d, length),
        delta=rand(b, d, length, scale=delta_scale),
        A=-torch.rand(d, n, generator=gen, dtype=dtype) * 4 - 0.1,
        B=rand(*bc_shape),
        C=rand(*bc_shape),
        D=rand(d),
        z=rand(b, d, length),
        delta_bias=rand(d, scale=0.5))


def outputs_and_grads(scan, inputs, dtype=None, **kwargs):
    """Output, last state and the gradients of a random projection."""
    leaves = {
        k: v.detach().to(dtype or v.dtype).requires_grad_()
        for k, v in inputs.items()
    }
    y, last = scan(**leaves, return_last_state=True, **kwargs)
    gen = torch.Generator().manual_seed(1)
    weight_y = torch.randn(y.shape, generator=gen, dtype=torch.float64)
    weight_s = torch.randn(last.shape, generator=gen, dtype=torch.float64)
    loss = (y * weight_y.to(y.dtype)).sum() + (
        last * weight_s.to(last.dtype)).sum()
    grads = torch.autograd.grad(loss, list(leaves.values()))
    results = dict(y=y, last_state=last)
    results.update({f'grad_{k}': g for k, g in zip(leaves, grads)})
    return {k: v.detach().double() for k, v in results.items()}


def assert_close_relative(actual, expected, rtol):
    for key, ref in expected.items():
        err = (actual[key] - ref).abs().max() / ref.abs().max().clamp_min(
            1e-30)
        assert torch.isfinite(actual[key]).all(), key
        assert err <= rtol, f'{key}: relative error {err:.3g} > {rtol}'


@pytest.mark.parametrize('groups', [None, 2])
@pytest.mark.parametrize('chunk_size', [7, 64])
def test_chunked_matches_reference_float64(groups, chunk_size):
    inputs = make_inputs(2, 8, 50, 4, groups=groups)
    ref = outputs_and_grads(selective_scan_ref, inputs, delta_softplus=True)
    out = outputs_and_grads(
        selective_scan_chunked, inputs, delta_softplus=True,
        chunk_size=chunk_size)
    assert_close_relative(out, ref, 1e-10)


def test_chunked_float32_long_sequence():
    inputs = make_inputs(1, 4, 4096, 4, delta_scale=0.5)
    ref = outputs_and_grads(selective_scan_ref, inputs, delta_softplus=True)
    out = outputs_and_grads(
        selective_scan_chunked, inputs, dtype=torch.float32,
        delta_softplus=True)
    assert_close_relative(out, ref, 1e-4)


def test_chunked_large_delta_splits_segments():
    # delta up to ~100 and |A| up to 4: a 64-token chunk spans a log-decay
    # of thousands, far beyond float32's exp range, so segments are halved.
    inputs = make_inputs(1, 4, 200, 3, delta_scale=40.0)
    ref = outputs_and_grads(selective_scan_ref, inputs, delta_softplus=True)
    out = outputs_and_grads(
        selective_scan_chunked, inputs, dtype=torch.float32,
        delta_softplus=True)
    assert_close_relative(out, ref, 1e-4)


def test_chunked_non_monotone_decay():
    # Without softplus delta changes sign and some A are positive, so the
    # cumulative log-decay is not monotone.
    inputs = make_inputs(2, 6, 90, 3, delta_scale=0.3)
    inputs['A'] = inputs['A'] * torch.tensor([1.0, -0.5, 0.2],
                                             dtype=torch.float64)
    ref = outputs_and_grads(selective_scan_ref, inputs)
    out = outputs_and_grads(selective_scan_chunked, inputs, chunk_size=16)
    assert_close_relative(out, ref, 1e-10)


@pytest.mark.parametrize('absent', [('D', ), ('z', ), ('delta_bias', ),
                                    ('D', 'z', 'delta_bias')])
def test_chunked_gradients_without_optional_inputs(absent):
    # Each optional input has its own branch in the fused backward.
    inputs = make_inputs(2, 6, 40, 3, groups=2)
    for name in absent:
        inputs.pop(name)
    ref = outputs_and_grads(selective_scan_ref, inputs, delta_softplus=True)
    out = outputs_and_grads(
        selective_scan_chunked, inputs, delta_softplus=True, chunk_size=16)
    assert_close_relative(out, ref, 1e-10)


def test_chunked_low_precision_inputs():
    # bfloat16 in, bfloat16 out (and gradients), computed in float32: the
    # result matches the float64 recurrence on the same rounded inputs.
    inputs = {
        k: v.to(torch.bfloat16)
        for k, v in make_inputs(1, 8, 100, 4, delta_scale=0.5).items()
    }
    leaves = {k: v.clone().requires_grad_() for k, v in inputs.items()}
    y = selective_scan_chunked(**leaves, delta_softplus=True, chunk_size=32)
    y.float().square().sum().backward()
    assert y.dtype == torch.bfloat16
    assert all(v.grad.dtype == torch.bfloat16 for v in leaves.values())
    expected = selective_scan_ref(
        **{k: v.double() for k, v in inputs.items()}, delta_softplus=True)
    torch.testing.assert_close(
        y.double(), expected, rtol=1e-2, atol=1e-2 * expected.abs().max())


def test_optional_arguments_absent():
    inputs = make_inputs(1, 4, 20, 2)
    args = (inputs['u'], inputs['delta'], inputs['A'], inputs['B'],
            inputs['C'])
    torch.testing.assert_close(
        selective_scan_chunked(*args, chunk_size=8),
        selective_scan_ref(*args))


def test_reference_recurrence_by_hand():
    # d=1, n=1, l=2: x1 = dt1*b1*u1, x2 = exp(dt2*a)*x1 + dt2*b2*u2.
    u = torch.tensor([[[1.0, 2.0]]], dtype=torch.float64)
    delta = torch.tensor([[[0.5, 0.25]]], dtype=torch.float64)
    A = torch.tensor([[-2.0]], dtype=torch.float64)
    B = torch.tensor([[[3.0, -1.0]]], dtype=torch.float64)
    C = torch.tensor([[[1.0, 4.0]]], dtype=torch.float64)
    x1 = 0.5 * 3.0 * 1.0
    x2 = torch.exp(torch.tensor(-0.5)).item() * x1 + 0.25 * -1.0 * 2.0
    expected = torch.tensor([[[x1 * 1.0, x2 * 4.0]]], dtype=torch.float64)
    for scan in (selective_scan_ref, selective_scan_chunked):
        torch.testing.assert_close(scan(u, delta, A, B, C), expected)


@pytest.mark.parametrize('shape,chunk', [
    ((2, 512, 16), 64),  # the scan benchmark: 2 * 512 * 16 * 64 = 2^20
    ((2, 1024, 16), 64),  # CMIM P3/P4: exactly 2^21 values
    ((2, 2048, 32), 16),  # CMIM P5: 2^21 at 16 tokens
    ((64, 2048, 32), 16),  # never below 16
    ((1, 8, 4), 64),  # never above 64
])
def test_default_chunk_size(shape, chunk):
    assert default_chunk_size(*shape) == chunk


def test_dispatch_and_errors():
    inputs = make_inputs(1, 4, 10, 2)
    assert resolve_scan_backend(inputs['u']) == 'chunked'
    with pytest.raises(ValueError, match='unknown selective scan backend'):
        selective_scan(**inputs, backend='triton')
    with pytest.raises(ValueError, match='divisible'):
        bad = dict(inputs, B=torch.randn(1, 3, 2, 10, dtype=torch.float64),
                   C=torch.randn(1, 3, 2, 10, dtype=torch.float64))
        selective_scan(**bad)
    with pytest.raises(ValueError, match='A must be'):
        selective_scan(**dict(inputs, A=inputs['A'][:2]))


needs_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason='needs a CUDA GPU (none here)')


@needs_cuda
def test_chunked_on_cuda_matches_reference():
    inputs = make_inputs(2, 16, 500, 8, groups=2, delta_scale=0.5)
    ref = outputs_and_grads(selective_scan_ref, inputs, delta_softplus=True)
    cuda_inputs = {k: v.cuda() for k, v in inputs.items()}
    out = outputs_and_grads(
        selective_scan_chunked,
        cuda_inputs,
        dtype=torch.float32,
        delta_softplus=True)
    assert_close_relative({k: v.cpu()
                           for k, v in out.items()}, ref, 1e-4)


@needs_cuda
def test_mamba_ssm_backend_matches_reference():
    pytest.importorskip('mamba_ssm')
    inputs = make_inputs(2, 16, 300, 8, groups=2, delta_scale=0.5)
    weight = torch.randn(2, 16, 300, dtype=torch.float64)

    def run(scan, tensors):
        leaves = {k: v.detach().requires_grad_() for k, v in tensors.items()}
        y = scan(**leaves, delta_softplus=True)
        grads = torch.autograd.grad((y * weight.to(y)).sum(),
                                    list(leaves.values()))
        return [y.detach().double().cpu()] + [g.double().cpu() for g in grads]

    expected = run(selective_scan_ref, inputs)
    actual = run(
        lambda **kw: selective_scan(**kw, backend='mamba_ssm'),
        {k: v.float().cuda()
         for k, v in inputs.items()})
    for name, a, e in zip(('y', ) + NAMES, actual, expected):
        err = (a - e).abs().max() / e.abs().max()
        assert err <= 1e-3, f'{name}: relative error {err:.3g}'
