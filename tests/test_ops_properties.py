"Property tests of the ops (hypothesis): bounds and identities on random shapes, group sizes, dtypes and sparsities."
import math
import torch
from hypothesis import given, settings, strategies as st
from libortho_nb.ops import (quantize_int4, dequantize_int4, unpack_int4, decompose, csr_to_dense, check_csr, int4_linear,
                             csr_linear, relative_error)

DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64]
shapes = st.tuples(st.integers(1, 24), st.integers(1, 300))
groups = st.sampled_from([2, 4, 16, 32, 64, 128])

def weight(shape, dtype, seed, scale):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale).to(dtype)

@settings(max_examples=60, deadline=None)
@given(shapes, groups, st.sampled_from(DTYPES), st.integers(0, 2**31), st.sampled_from([1e-3, 1.0, 300.0]))
def test_round_trip_within_half_a_step(shape, gs, dtype, seed, scale):
    w = weight(shape, dtype, seed, scale)
    b = quantize_int4(w, gs)
    G = math.ceil(shape[1] / gs)
    assert b.packed.shape == (shape[0], G * gs // 2) and b.packed.dtype == torch.uint8 and b.scales.shape == (shape[0], G)
    q = unpack_int4(b.packed, gs)
    assert q.min() >= -8 and q.max() <= 7
    err = (dequantize_int4(b).double() - w.double()).abs()
    step = b.scales.double().repeat_interleave(gs, 1)[:, :shape[1]]
    # half a step, plus the rounding of the dequantized value to the weight's own dtype
    assert (err <= step / 2 + w.double().abs() * torch.finfo(dtype).eps + 1e-300).all()

@settings(max_examples=60, deadline=None)
@given(shapes, groups, st.sampled_from(DTYPES), st.integers(0, 2**31), st.floats(0, 0.5), st.sampled_from(["residual", "outlier"]),
       st.booleans())
def test_decompose_identities(shape, gs, dtype, seed, sparsity, mode, per_element_h):
    w = weight(shape, dtype, seed, 1.0)
    h = torch.rand(shape if per_element_h else shape[1:], generator=torch.Generator().manual_seed(seed + 1))
    base, ortho = decompose(w, h, sparsity, mode, gs)
    check_csr(ortho)
    assert ortho.nnz == round(sparsity * w.numel())
    wb, wo = dequantize_int4(base), csr_to_dense(ortho)
    sel = torch.zeros(w.numel(), dtype=torch.bool)
    rows = torch.repeat_interleave(torch.arange(shape[0]), (ortho.crow[1:] - ortho.crow[:-1]).long())
    sel[rows * shape[1] + ortho.col.long()] = True
    sel = sel.view(shape)
    assert torch.equal((wb + wo)[sel], w[sel])
    if mode == "residual": assert torch.equal(wb, dequantize_int4(quantize_int4(w, gs)))
    else:
        assert torch.equal(wo[sel], w[sel])
        assert (wb[sel] == 0).all()

@settings(max_examples=30, deadline=None)
@given(shapes, groups, st.integers(0, 2**31), st.integers(1, 5), st.floats(0, 0.3))
def test_linear_paths_match_dense_float64(shape, gs, seed, batch, sparsity):
    w = weight(shape, torch.float64, seed, 1.0)
    base, ortho = decompose(w, None, sparsity, "outlier", gs)
    x = weight((batch, shape[1]), torch.float64, seed + 7, 1.0)
    assert relative_error(int4_linear(x, base, block_rows=3), x @ dequantize_int4(base).T) < 1e-12
    if ortho.nnz: assert relative_error(csr_linear(x, ortho), x @ csr_to_dense(ortho).T) < 1e-12
