"""PyTorch's type promotion: the dtype of every result, stated and checked against torch.

Each test states PyTorch 2.13's answer, so it runs without PyTorch; where PyTorch is
installed the same expression also runs through ``torch`` and must agree.
"""

import itertools

import pytest

import numbanet as nb
from numbanet import dtypes

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]


def name(dtype) -> str:
    return str(dtype).rsplit(".", 1)[-1]


def make(library, dtype: str, ndim: int):
    return library.zeros((2,) * ndim, dtype=getattr(library, dtype))


@pytest.mark.parametrize(("first", "second", "expected"), [
    ("uint8", "int8", "int16"),
    ("uint8", "int16", "int16"),
    ("int32", "int64", "int64"),
    ("bool", "uint8", "uint8"),
    ("int64", "float16", "float16"),
    ("float16", "float32", "float32"),
    ("int8", "float64", "float64"),
])
def test_promote_types_stated(first, second, expected):
    assert dtypes.promote_types(getattr(nb, first), getattr(nb, second)).name == expected
    assert nb.promote_types(getattr(nb, second), getattr(nb, first)).name == expected


@pytest.mark.parametrize(("operands", "expected"), [
    ((("int64", 1), 2.5), "float32"),  # an int tensor times a float number: default float
    ((("int32", 1), 2), "int32"),  # a number of the same category never widens
    ((("uint8", 1), -1), "uint8"),
    ((("bool", 1), 3), "int64"),
    ((("int32", 1), True), "int32"),
    ((("float16", 1), 2.5), "float16"),
    ((("float32", 1), ("float64", 0)), "float32"),  # a 0-d tensor acts as a scalar
    ((("int64", 1), ("float32", 0)), "float32"),
    ((("int64", 1), ("float64", 0)), "float64"),  # ... of its own dtype in a higher category
    ((("int8", 1), ("int64", 0)), "int8"),
    ((("float64", 0), ("float32", 0)), "float64"),  # two 0-d tensors promote normally
    ((("int32", 0), 2.5), "float32"),
])
def test_result_type_stated_and_as_torch(operands, expected):
    def build(library):
        return [make(library, *o) if isinstance(o, tuple) else o for o in operands]

    assert name(nb.result_type(*build(nb))) == expected
    torch = pytest.importorskip("torch")
    assert name(torch.result_type(*build(torch))) == expected


def test_result_type_matches_torch_for_every_pair_of_dtypes_and_dims():
    torch = pytest.importorskip("torch")
    for first, second in itertools.product(DTYPES, DTYPES):
        for dims in [(1, 1), (1, 0), (0, 1), (0, 0)]:
            ours = nb.result_type(make(nb, first, dims[0]), make(nb, second, dims[1]))
            theirs = torch.result_type(make(torch, first, dims[0]), make(torch, second, dims[1]))
            assert name(ours) == name(theirs), (first, second, dims)
        for number in (True, 3, 2.5):
            ours = nb.result_type(make(nb, first, 1), number)
            assert name(ours) == name(torch.result_type(make(torch, first, 1), number))


def test_binary_ops_compute_in_the_result_type():
    out = nb.ones(3) * nb.tensor(2.0, dtype=nb.float64)
    assert out.dtype == nb.float32 and out.tolist() == [2.0, 2.0, 2.0]
    out = nb.tensor([200], dtype=nb.uint8) + nb.tensor([-1], dtype=nb.int8)
    assert out.dtype == nb.int16 and out.tolist() == [199]
    out = nb.tensor([1, 2]) * nb.tensor(2.5)
    assert out.dtype == nb.float32 and out.tolist() == [2.5, 5.0]
    out = nb.tensor([True, False]) + 1
    assert out.dtype == nb.int64 and out.tolist() == [2, 1]
    assert (nb.tensor([1, 2]) < 1.5).tolist() == [True, False]


def test_true_division_of_integers_is_float():
    out = nb.tensor([1, 2, 3]) / nb.tensor([2, 2, 2])
    assert out.dtype == nb.float32 and out.tolist() == [0.5, 1.0, 1.5]
    assert (7 / nb.tensor([2])).tolist() == [3.5]
    assert (nb.tensor([True]) / 2).dtype == nb.float32


def test_in_place_ops_may_not_change_the_category():
    x = nb.tensor([1, 2])
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired "
                                           "output type Long"):
        x /= 2
    with pytest.raises(RuntimeError, match="result type Float can't be cast"):
        x += 1.5
    assert x.tolist() == [1, 2]
    small = nb.tensor([200], dtype=nb.uint8)
    small += nb.tensor([100], dtype=nb.int8)  # computed as int16, written back as uint8
    assert small.dtype == nb.uint8 and small.tolist() == [44]
    floats = nb.ones(2)
    floats *= nb.tensor([3.0, 4.0], dtype=nb.float64)
    assert floats.dtype == nb.float32 and floats.tolist() == [3.0, 4.0]
    assert nb.can_cast(nb.int64, nb.float16) and not nb.can_cast(nb.float32, nb.int64)
    assert not nb.can_cast(nb.int8, nb.bool)


def test_integer_to_a_negative_integer_power_raises():
    with pytest.raises(RuntimeError, match="Integers to negative integer powers are not "
                                           "allowed."):
        nb.tensor([1, 2]) ** -1
    assert (nb.tensor([1, 2]) ** -1.0).tolist() == [1.0, 0.5]
    assert (nb.tensor([1.0, 2.0]) ** -1).tolist() == [1.0, 0.5]
    assert (nb.tensor([2, 3]) ** 2).tolist() == [4, 9]


def test_clamp_of_integers_by_floats_promotes():
    out = nb.arange(5).clamp(0.5, 2.5)
    assert out.dtype == nb.float32 and out.tolist() == [0.5, 1.0, 2.0, 2.5, 2.5]
    assert nb.arange(5).clamp(1, 3).dtype == nb.int64


def test_bool_subtraction_and_negation_raise_as_in_pytorch():
    mask = nb.tensor([True, False])
    with pytest.raises(RuntimeError, match="with two bool tensors is not supported"):
        mask - mask
    with pytest.raises(RuntimeError, match="with a bool tensor is not supported"):
        nb.tensor([1, 2]) - True
    with pytest.raises(RuntimeError, match="Negation, the `-` operator, on a bool tensor"):
        -mask


def test_logical_ops_on_bools_and_refusal_on_floats():
    p, q = nb.tensor([True, True, False]), nb.tensor([True, False, False])
    assert (p & q).tolist() == [True, False, False]
    assert (p | q).tolist() == [True, True, False]
    assert (p ^ q).tolist() == [False, True, False]
    assert (~p).tolist() == [False, False, True]
    with pytest.raises(NotImplementedError, match="bitwise_and"):
        nb.ones(2) & nb.ones(2)
    with pytest.raises(TypeError, match="only implemented on integer and Boolean"):
        ~nb.ones(2)


def test_sums_of_integers_and_bools_are_int64():
    assert nb.tensor([1, 2], dtype=nb.int32).sum().dtype == nb.int64
    counted = nb.tensor([True, True, False]).sum()
    assert counted.dtype == nb.int64 and counted.item() == 2
    assert nb.tensor([1.0, 2.0], dtype=nb.float64).sum().dtype == nb.float64
    with pytest.raises(RuntimeError, match="Got: Long"):
        nb.tensor([1, 2]).mean()


def test_cat_and_where_promote():
    joined = nb.cat([nb.tensor([1]), nb.tensor([2.5])])
    assert joined.dtype == nb.float32 and joined.tolist() == [1.0, 2.5]
    picked = nb.where(nb.tensor([True, False]), nb.tensor([1, 2]), 0.5)
    assert picked.dtype == nb.float32 and picked.tolist() == [1.0, 0.5]


def test_matmul_does_not_promote_as_in_pytorch():
    with pytest.raises(RuntimeError, match="expected m1 and m2 to have the same dtype, but "
                                           "got: long int != float"):
        nb.ones(2, 2, dtype=nb.int64) @ nb.ones(2, 2)
    with pytest.raises(NotImplementedError, match="not implemented for 'Bool'"):
        nb.ones(2, 2, dtype=nb.bool) @ nb.ones(2, 2, dtype=nb.bool)
    out = nb.ones(2, 2, dtype=nb.int64) @ nb.ones(2, 2, dtype=nb.int64)
    assert out.dtype == nb.int64 and out.tolist() == [[2, 2], [2, 2]]


def test_bitwise_ops_on_integers_and_their_promotion():
    x, y = nb.tensor([12, 0, -1]), nb.tensor([10, 5, 3])
    assert (x & y).tolist() == [8, 0, 3] and (x | y).tolist() == [14, 5, -1]
    assert (x ^ y).tolist() == [6, 5, -4] and (~x).tolist() == [-13, -1, 0]
    small = nb.tensor([1, 2], dtype=nb.uint8)
    assert (~small).tolist() == [254, 253] and (small & 3).dtype == nb.uint8
    assert (nb.tensor([True, False]) | 2).dtype == nb.int64


def test_floor_division_and_remainder_round_toward_minus_infinity():
    a, b = nb.tensor([-7, 7, -7, 7]), nb.tensor([2, 2, -2, -2])
    assert (a // b).tolist() == [-4, 3, 3, -4] and (a % b).tolist() == [1, 1, -1, -1]
    assert (7 // b).tolist() == [3, 3, -4, -4]
    out = nb.tensor([5, 6]) // 2.5
    assert out.dtype == nb.float32 and out.tolist() == [2.0, 2.0]
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        a // 0
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        a % nb.tensor([0, 1, 1, 1])
    assert (nb.tensor([1.0]) // 0).tolist() == [float("inf")]


def test_remainder_gradient_as_pytorch():
    a = nb.tensor([5.0, -7.0], requires_grad=True)
    b = nb.tensor([2.0, 2.0], requires_grad=True)
    (a % b).sum().backward()
    assert a.grad.tolist() == [1.0, 1.0] and b.grad.tolist() == [-2.0, 4.0]


def test_all_and_any_along_dims_and_their_dtype():
    x = nb.tensor([[1.0, 0.0], [2.0, 3.0]])
    assert x.all().item() is False and x.any().item() is True
    assert x.all(dim=1).tolist() == [False, True] and x.any(0, keepdim=True).shape == (1, 2)
    assert nb.zeros(0).all().item() is True and nb.zeros(0).any().item() is False
    small = nb.tensor([[1, 0], [2, 3]], dtype=nb.uint8)
    assert small.all().dtype == nb.uint8 and small.any(1).tolist() == [1, 1]
    assert nb.all(nb.ones(2, 3), dim=(0, 1)).item() is True
