"""gather, scatter, sort, argsort, topk, norm, bmm, einsum, multinomial, split/chunk, F.pad.

Values, dtypes and gradients on every layout are in ``tests/test_opinfo.py``; here: the
rules a reader relies on (stability, NaN order, PyTorch's errors), stated values, the
sampling distribution of multinomial, and the new kernels on both devices (CUDA under the
simulator, ``-m cuda``).
"""

import math
import os

import numpy as np
import pytest

import numbanet
import numbanet.nn.functional as F


def values(t) -> list:
    return t.tolist()


# ---- sort, argsort, topk --------------------------------------------------------------------


def test_sort_is_stable_and_puts_nan_last_ascending_first_descending():
    x = numbanet.tensor([2.0, math.nan, 1.0, 2.0, -0.0, 0.0, 1.0])
    result = x.sort()
    assert values(result.indices) == [4, 5, 2, 6, 0, 3, 1]
    assert np.isnan(result.values.numpy()[-1])
    down = numbanet.sort(x, descending=True)
    assert values(down.indices) == [1, 0, 3, 2, 6, 4, 5]
    assert values(x.argsort(descending=True)) == [1, 0, 3, 2, 6, 4, 5]


def test_sort_along_a_dim_and_its_gradient():
    x = numbanet.tensor([[3.0, 1.0, 2.0], [0.0, 5.0, -1.0]], requires_grad=True)
    values_, indices = x.sort(dim=0, descending=True)
    assert values(values_) == [[3.0, 5.0, 2.0], [0.0, 1.0, -1.0]]
    assert values(indices) == [[0, 1, 0], [1, 0, 1]]
    (values_ * numbanet.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])).sum().backward()
    assert values(x.grad) == [[1.0, 5.0, 3.0], [4.0, 2.0, 6.0]]


def test_topk_gives_the_largest_first_and_checks_k():
    x = numbanet.tensor([[1.0, 9.0, 3.0, 7.0], [4.0, 2.0, 8.0, 6.0]])
    top = numbanet.topk(x, 2)
    assert values(top.values) == [[9.0, 7.0], [8.0, 6.0]]
    assert values(top.indices) == [[1, 3], [2, 3]]
    assert values(x.topk(1, dim=0, largest=False).values) == [[1.0, 2.0, 3.0, 6.0]]
    with pytest.raises(RuntimeError, match="selected index k out of range"):
        x.topk(5)


@pytest.mark.torch
def test_stable_sort_matches_pytorch_on_ties():
    torch = pytest.importorskip("torch")
    data = np.random.default_rng(0).integers(0, 4, (5, 30))
    for descending in (False, True):
        for dim in (0, 1):
            mine = numbanet.tensor(data).sort(dim, descending=descending)
            theirs = torch.tensor(data).sort(dim=dim, descending=descending, stable=True)
            assert values(mine.indices) == theirs.indices.tolist()
            assert values(mine.values) == theirs.values.tolist()


# ---- gather and scatter ---------------------------------------------------------------------


def test_gather_checks_like_pytorch():
    x = numbanet.arange(6.0).reshape(2, 3)
    assert values(numbanet.gather(x, 1, numbanet.tensor([[2, 0], [1, 1]]))) == \
        [[2.0, 0.0], [4.0, 4.0]]
    with pytest.raises(RuntimeError, match="Expected dtype int64 for index"):
        x.gather(1, numbanet.tensor([[0]], dtype=numbanet.int32))
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        x.gather(1, numbanet.tensor([0, 1]))
    with pytest.raises(RuntimeError, match="index 3 is out of bounds for dimension 1 with "
                                           "size 3"):
        x.gather(1, numbanet.tensor([[3]]))
    with pytest.raises(RuntimeError, match=r"Expected index \[3, 1\] to be smaller than self"):
        x.gather(1, numbanet.tensor([[0], [0], [0]]))


def test_gather_gradient_adds_up_repeated_reads():
    x = numbanet.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x.gather(0, numbanet.tensor([2, 2, 0])).sum().backward()
    assert values(x.grad) == [1.0, 0.0, 2.0]


def test_scatter_with_src_value_and_reduce():
    index = numbanet.tensor([[0, 2], [1, 0]])
    src = numbanet.tensor([[1.0, 2.0], [3.0, 4.0]])
    base = numbanet.zeros(2, 3)
    assert values(base.scatter(1, index, src)) == [[1.0, 0.0, 2.0], [4.0, 3.0, 0.0]]
    assert values(numbanet.scatter(base, 1, index, value=7.0)) == \
        [[7.0, 0.0, 7.0], [7.0, 7.0, 0.0]]
    ones = numbanet.ones(2, 3)
    twice = numbanet.tensor([[0, 0], [2, 2]])
    assert values(ones.scatter(1, twice, src, reduce="add")) == [[4.0, 1.0, 1.0],
                                                                [1.0, 1.0, 8.0]]
    assert values(ones.scatter(1, twice, src, reduce="multiply")) == [[2.0, 1.0, 1.0],
                                                                     [1.0, 1.0, 12.0]]
    assert values(base) == [[0.0] * 3] * 2  # scatter copies; scatter_ writes in place
    assert base.scatter_(1, index, src) is base
    assert values(base) == [[1.0, 0.0, 2.0], [4.0, 3.0, 0.0]]


def test_scatter_gradients():
    x = numbanet.ones(2, 3, requires_grad=True)
    src = numbanet.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    out = x.scatter(1, numbanet.tensor([[0, 2], [1, 0]]), src)
    (out * numbanet.arange(6.0).reshape(2, 3)).sum().backward()
    assert values(x.grad) == [[0.0, 1.0, 0.0], [0.0, 0.0, 5.0]]  # overwritten: no gradient
    assert values(src.grad) == [[0.0, 2.0], [4.0, 3.0]]


def test_scatter_refuses_what_pytorch_refuses():
    x = numbanet.zeros(2, 3)
    index = numbanet.tensor([[0, 1]])
    with pytest.raises(RuntimeError, match="Expected self.dtype to be equal to src.dtype"):
        x.scatter(1, index, numbanet.ones(1, 2, dtype=numbanet.float64))
    with pytest.raises(RuntimeError, match="reduce argument must be either add or multiply"):
        x.scatter(1, index, 1.0, reduce="max")
    with pytest.raises(RuntimeError, match="index 5 is out of bounds"):
        x.scatter(1, numbanet.tensor([[5]]), 1.0)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        numbanet.zeros(2, 3, requires_grad=True).scatter_(1, index, 1.0)


# ---- norm -----------------------------------------------------------------------------------


def test_norms_stated():
    x = numbanet.tensor([[3.0, -4.0], [0.0, 12.0]])
    assert x.norm().item() == 13.0
    assert values(x.norm(dim=1)) == [5.0, 12.0]
    assert values(numbanet.norm(x, p=1, dim=0)) == [3.0, 16.0]
    assert values(x.norm(p=math.inf, dim=1, keepdim=True)) == [[4.0], [12.0]]
    assert values(x.norm(p=0, dim=1)) == [2.0, 1.0]
    assert x.norm(p="fro").item() == 13.0
    assert numbanet.zeros(0, 3).norm().item() == 0.0


def test_norm_gradient_is_zero_at_a_zero_vector_and_refuses_integers():
    x = numbanet.zeros(3, requires_grad=True)
    x.norm().backward()
    assert values(x.grad) == [0.0, 0.0, 0.0]
    y = numbanet.tensor([3.0, -4.0], requires_grad=True)
    y.norm().backward()
    np.testing.assert_allclose(y.grad.numpy(), [0.6, -0.8], rtol=1e-6)
    with pytest.raises(RuntimeError, match="Expected a floating point or complex tensor"):
        numbanet.tensor([1, 2]).norm()
    with pytest.raises(RuntimeError, match="cannot compute the inf norm on an empty tensor"):
        numbanet.zeros(0).norm(p=math.inf)


# ---- bmm, einsum ----------------------------------------------------------------------------


def test_bmm_checks_shapes():
    a, b = numbanet.ones(2, 3, 4), numbanet.ones(2, 4, 5)
    assert numbanet.bmm(a, b).shape == (2, 3, 5)
    with pytest.raises(RuntimeError, match="batch1 must be a 3D tensor"):
        numbanet.ones(3, 4).bmm(b)
    with pytest.raises(RuntimeError, match=r"Expected size for first two dimensions of batch2 "
                                           r"tensor to be: \[2, 4\] but got: \[3, 4\]"):
        a.bmm(numbanet.ones(3, 4, 5))


def test_einsum_stated_and_its_errors():
    a = numbanet.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert numbanet.einsum("ii->", a).item() == 5.0
    assert values(numbanet.einsum("ij->ji", a)) == [[1.0, 3.0], [2.0, 4.0]]
    assert values(numbanet.einsum("ij,jk->ik", a, a)) == [[7.0, 10.0], [15.0, 22.0]]
    assert values(numbanet.einsum("i,i", [a[0], a[1]])) == 11.0
    with pytest.raises(RuntimeError, match="more operands were provided"):
        numbanet.einsum("ij->i", a, a)
    with pytest.raises(RuntimeError, match="does not match the number of dimensions"):
        numbanet.einsum("ijk->i", a)
    with pytest.raises(RuntimeError, match="output subscript k does not appear"):
        numbanet.einsum("ij->k", a)
    with pytest.raises(RuntimeError, match="operands do not broadcast"):
        numbanet.einsum("ij,jk->ik", a, numbanet.ones(3, 2))


def test_einsum_gradient_is_matmuls():
    a = numbanet.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    b = numbanet.tensor([[0.5, -1.0], [2.0, 1.0]], requires_grad=True)
    numbanet.einsum("ij,jk->ik", a, b).sum().backward()
    assert values(a.grad) == [[-0.5, 3.0], [-0.5, 3.0]]  # ones @ b^T
    assert values(b.grad) == [[4.0, 4.0], [6.0, 6.0]]  # a^T @ ones


# ---- multinomial ----------------------------------------------------------------------------


def test_multinomial_is_reproducible_with_manual_seed():
    weights = numbanet.tensor([[1.0, 2.0, 3.0, 4.0], [4.0, 0.0, 0.0, 1.0]])
    numbanet.manual_seed(7)
    first = numbanet.multinomial(weights, 2)
    numbanet.manual_seed(7)
    assert values(weights.multinomial(2)) == values(first)
    assert first.dtype is numbanet.int64 and first.shape == (2, 2)
    assert values(first[1].sort().values) == [0, 3]  # the only two nonzero categories


def test_multinomial_draws_from_the_weights_distribution():
    numbanet.manual_seed(0)
    draws = numbanet.multinomial(numbanet.tensor([1.0, 3.0, 0.0, 6.0]), 20000,
                                 replacement=True).numpy()
    frequencies = np.bincount(draws, minlength=4) / draws.size
    np.testing.assert_allclose(frequencies, [0.1, 0.3, 0.0, 0.6], atol=0.015)
    without = numbanet.multinomial(numbanet.ones(2, 6), 6)
    assert all(sorted(row) == list(range(6)) for row in values(without))


def test_multinomial_refuses_what_pytorch_refuses():
    with pytest.raises(RuntimeError, match="cannot sample n_sample > prob_dist.size"):
        numbanet.multinomial(numbanet.ones(3), 4)
    with pytest.raises(RuntimeError, match="element < 0"):
        numbanet.multinomial(numbanet.tensor([1.0, -1.0]), 1)
    with pytest.raises(RuntimeError, match="sum of probabilities <= 0"):
        numbanet.multinomial(numbanet.zeros(3), 1, replacement=True)
    with pytest.raises(RuntimeError, match="prob_dist must be 1 or 2 dim"):
        numbanet.multinomial(numbanet.ones(1, 1, 2), 1)


# ---- split, chunk, pad --------------------------------------------------------------------


def test_split_and_chunk_functions():
    x = numbanet.arange(7)
    assert [values(p) for p in numbanet.split(x, 3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [values(p) for p in numbanet.split(x, [2, 5])] == [[0, 1], [2, 3, 4, 5, 6]]
    assert [values(p) for p in numbanet.chunk(x, 2)] == [[0, 1, 2, 3], [4, 5, 6]]
    with pytest.raises(RuntimeError, match="split_with_sizes expects split_sizes to sum "
                                           "exactly to 7"):
        x.split([2, 2])
    with pytest.raises(RuntimeError, match="chunk expects `chunks` to be greater than 0"):
        x.chunk(0)


def test_pad_modes_stated():
    x = numbanet.tensor([[[1.0, 2.0, 3.0]]])
    assert values(F.pad(x, (2, 1))) == [[[0.0, 0.0, 1.0, 2.0, 3.0, 0.0]]]
    assert values(F.pad(x, (2, 1), mode="reflect")) == [[[3.0, 2.0, 1.0, 2.0, 3.0, 2.0]]]
    assert values(F.pad(x, (2, 1), mode="replicate")) == [[[1.0, 1.0, 1.0, 2.0, 3.0, 3.0]]]
    assert values(F.pad(x, (2, 1), mode="circular")) == [[[2.0, 3.0, 1.0, 2.0, 3.0, 1.0]]]
    assert values(F.pad(x, (-1, 1), value=9.0)) == [[[2.0, 3.0, 9.0]]]


def test_pad_gradient_collects_copies_of_an_edge():
    x = numbanet.tensor([[[1.0, 2.0, 3.0]]], requires_grad=True)
    F.pad(x, (2, 1), mode="replicate").sum().backward()
    assert values(x.grad) == [[[3.0, 1.0, 2.0]]]


def test_pad_errors_and_zero_pad_layer():
    x = numbanet.ones(1, 1, 2, 2)
    with pytest.raises(RuntimeError, match="Padding length must be divisible by 2"):
        F.pad(x, (1,))
    with pytest.raises(RuntimeError, match=r"Padding size should be less than the "
                                           r"corresponding input dimension, but got: padding "
                                           r"\(2, 2\) at dimension 2 of input \[1, 2, 2\]"):
        F.pad(x[0], (2, 2), mode="reflect")
    with pytest.raises(NotImplementedError, match="Padding size 2 is not supported for 4D"):
        F.pad(x, (1, 1), mode="reflect")
    layer = numbanet.nn.ZeroPad2d((1, 0, 2, 0))
    assert layer(x).shape == (1, 1, 4, 3)
    assert repr(layer) == "ZeroPad2d((1, 0, 2, 0))"
    assert values(layer(x)[0, 0, :, 0]) == [0.0, 0.0, 0.0, 0.0]


@pytest.mark.torch
def test_zero_pad_layers_match_pytorch():
    torch = pytest.importorskip("torch")
    data = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4)
    for name, args in (("ZeroPad2d", (2,)), ("ConstantPad2d", ((1, 2, 0, 1), 3.5)),
                       ("ReflectionPad2d", ((1, 2, 2, 1),)), ("ReplicationPad2d", (3,))):
        mine = getattr(numbanet.nn, name)(*args)(numbanet.tensor(data))
        theirs = getattr(torch.nn, name)(*args)(torch.tensor(data))
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy(), err_msg=name)


# ---- out= -----------------------------------------------------------------------------------


def test_out_for_gather_norm_bmm():
    x = numbanet.arange(6.0).reshape(2, 3)
    out = numbanet.empty(0)
    assert numbanet.gather(x, 1, numbanet.tensor([[1], [2]]), out=out) is out
    assert values(out) == [[1.0], [5.0]]
    norm_out = numbanet.empty(())
    numbanet.norm(numbanet.tensor([3.0, 4.0]), out=norm_out)
    assert norm_out.item() == 5.0
    product = numbanet.empty(1, 2, 2)
    numbanet.bmm(x.reshape(1, 2, 3), x.reshape(1, 3, 2), out=product)
    assert values(product) == [[[10.0, 13.0], [28.0, 40.0]]]


# ---- the kernels on both devices -------------------------------------------------------------


def sort_cases():
    rng = np.random.default_rng(3)
    return [
        (np.array([[2.0, np.nan, 1.0, 2.0, -0.0, 0.0, -np.inf, np.inf]], np.float32), False),
        (np.array([[2.0, np.nan, 1.0, 2.0, -0.0, 0.0, -np.inf, np.inf]], np.float64), True),
        (rng.integers(-3, 3, (4, 9)), False),
        (rng.integers(-3, 3, (3, 17)), True),
        (rng.integers(0, 2, (2, 5)).astype(bool), True),
        (rng.standard_normal((5, 1)), False),
        (np.zeros((0, 4)), False),
        (np.zeros((3, 0)), True),
    ]


def test_cpu_sort_kernel_is_numpys_stable_argsort():
    from numbanet.kernels import cpu

    for array, descending in sort_cases():
        sorted_values, indices = cpu.sort(array, descending)
        assert indices.dtype == np.int64 and sorted_values.dtype == array.dtype
        np.testing.assert_array_equal(np.take_along_axis(array, indices, 1), sorted_values)
        if not descending and array.dtype != bool:
            np.testing.assert_array_equal(indices, np.argsort(array, axis=1, kind="stable"))


@pytest.fixture(scope="module")
def gpu():
    if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
        from numba import cuda

        if not cuda.is_available():
            pytest.skip("needs a GPU or NUMBA_ENABLE_CUDASIM=1")
    import numbanet.kernels.cuda as gpu

    return gpu


@pytest.mark.cuda
def test_cuda_sort_gives_the_cpus_results(gpu):
    from numbanet.kernels import cpu

    for array, descending in sort_cases():
        gpu_values, gpu_indices = gpu.sort(gpu.from_host(array), descending)
        cpu_values, cpu_indices = cpu.sort(array, descending)
        np.testing.assert_array_equal(gpu.to_host(gpu_indices), cpu_indices)
        np.testing.assert_array_equal(gpu.to_host(gpu_values), cpu_values)


@pytest.mark.cuda
def test_cuda_scatter_kernels_give_the_cpus_results(gpu):
    from numbanet.kernels import cpu

    cases = {  # scatter: distinct positions (a repeated one has no defined winner on a GPU)
        "scatter": (np.array([4, 0, 2], np.int64), np.array([1.5, -2.0, 3.0]),
                    [-2.0, 1.0, 3.0, 1.0, 1.5, 1.0]),
        "scatter_multiply": (np.array([4, 0, 4, 4], np.int64), np.array([1.5, -2.0, 3.0, 2.0]),
                             [-2.0, 1.0, 1.0, 1.0, 9.0, 1.0]),
    }
    for name, (index, values_, expected) in cases.items():
        on_cpu = np.ones(6)
        getattr(cpu, name)(on_cpu, index, values_)
        on_gpu = gpu.from_host(np.ones(6))
        getattr(gpu, name)(on_gpu, gpu.from_host(index), gpu.from_host(values_))
        assert list(on_cpu) == expected, name
        np.testing.assert_array_equal(gpu.to_host(on_gpu), on_cpu, err_msg=name)


def test_a_zero_dim_index_counts_as_one_dim_as_in_pytorch():
    """The transforms tutorial one-hot encodes a label this way."""
    one_hot = numbanet.zeros(10).scatter_(0, numbanet.tensor(3), value=1)
    assert one_hot.tolist() == [0.0, 0.0, 0.0, 1.0] + [0.0] * 6
    scattered = numbanet.zeros(4).scatter(0, numbanet.tensor(1), numbanet.tensor(5.0))
    assert scattered.tolist() == [0, 5, 0, 0]
    picked = numbanet.arange(4.0).gather(0, numbanet.tensor(2))
    assert picked.shape == () and picked.item() == 2.0
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        numbanet.zeros(3, 4).scatter_(0, numbanet.tensor(1), value=1)
