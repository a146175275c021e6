"""``numbanet.einsum``: Einstein summation, built from ops autograd already knows.

``einsum("ij,jk->ik", a, b)`` names each dim of each operand by a letter; letters in the
output stay, the others are summed over. numbanet computes it the way the notation reads:

1. a letter repeated within one operand (``"ii->i"``, a diagonal) keeps the elements where
   both coordinates agree: the operand times an identity mask, summed over the second dim;
2. every operand is permuted and reshaped so that its dims line up, one per letter of the
   whole equation (size 1 for the letters it lacks);
3. the operands are multiplied together (broadcasting) and the letters not in the output
   are summed away.

So the graph holds permute, reshape, mul and sum nodes, and the gradient of every
operand follows from theirs. ``...`` stands for the dims a subscript does not name
(broadcast between operands, kept in the output). Step 3 materialises the product of all
operands before summing: simple to read, but for ``"bij,bjk->bik"`` that is b*i*j*k
numbers. So two operands take a shortcut that gives the same result: their letters sorted
into batch (in both and the output), kept (in one and the output) and contracted (in both,
not the output), each operand becomes a stack of matrices and one batched ``matmul`` does
the multiplying and summing at once.
"""

from __future__ import annotations

import math

from numbanet import creation
from numbanet.errors import op_error
from numbanet.tensor import Tensor

ELLIPSIS_LETTERS = "ΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩ"  # stand-ins for the dims '...' covers


def _parse(equation: str, operands) -> tuple[list[str], str]:
    """The subscripts of each operand and of the output, '...' replaced by letters."""
    equation = equation.replace(" ", "")
    inputs, arrow, output = equation.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(operands):
        more = "more" if len(operands) > len(terms) else "fewer"
        raise op_error(RuntimeError, "einsum", f"einsum(): {more} operands were provided "
                       "than specified in the equation")
    widest = 0
    for position, (term, operand) in enumerate(zip(terms, operands, strict=True)):
        named = len(term.replace("...", ""))
        if not all(letter.isalpha() for letter in term.replace("...", "")):
            raise op_error(RuntimeError, "einsum", "einsum(): invalid subscript given at "
                           f"operand {position}: {term!r} (letters and '...' only)")
        if "..." in term:
            if operand.dim() < named:
                raise op_error(RuntimeError, "einsum", "einsum(): the number of subscripts "
                               f"in the equation ({named}) is more than the number of "
                               f"dimensions ({operand.dim()}) for operand {position}")
            widest = max(widest, operand.dim() - named)
        elif named != operand.dim():
            raise op_error(RuntimeError, "einsum", "einsum(): the number of subscripts in "
                           f"the equation ({named}) does not match the number of dimensions "
                           f"({operand.dim()}) for operand {position} and no ellipsis was "
                           "given")
    stand_ins = ELLIPSIS_LETTERS[:widest]
    expanded = []
    for term, operand in zip(terms, operands, strict=True):
        if "..." in term:
            covered = operand.dim() - len(term.replace("...", ""))
            term = term.replace("...", stand_ins[widest - covered:])
        expanded.append(term)
    if arrow:
        if output.count("...") and not any("..." in term for term in terms):
            raise op_error(RuntimeError, "einsum", "einsum(): ellipsis in the output but "
                           "in no input")
        output = output.replace("...", stand_ins)
        for letter in output:
            if output.count(letter) > 1:
                raise op_error(RuntimeError, "einsum", f"einsum(): output subscript {letter} "
                               "appears more than once in the output")
            if not any(letter in term for term in expanded):
                raise op_error(RuntimeError, "einsum", f"einsum(): output subscript {letter} "
                               "does not appear in the equation for any input operand")
    else:  # implicit output: '...' first, then the letters used once, alphabetically
        letters = "".join(expanded)
        output = stand_ins + "".join(sorted(letter for letter in set(letters)
                                            if letters.count(letter) == 1
                                            and letter not in stand_ins))
    return expanded, output


def _take_diagonals(term: str, operand: Tensor) -> tuple[str, Tensor]:
    """Merge each letter repeated in one operand's subscripts into one dim (a diagonal)."""
    while True:
        repeated = next((letter for letter in term if term.count(letter) > 1), None)
        if repeated is None:
            return term, operand
        first = term.index(repeated)
        second = term.index(repeated, first + 1)
        size = operand.shape[first]
        if operand.shape[second] != size:
            raise op_error(RuntimeError, "einsum", f"einsum(): subscript {repeated} is "
                           f"repeated for operand but the sizes don't match, {size} != "
                           f"{operand.shape[second]}")
        mask_shape = [1] * operand.dim()
        mask_shape[first] = mask_shape[second] = size
        mask = creation.eye(size, dtype=operand.dtype, device=operand.device)
        operand = (operand * mask.reshape(mask_shape)).sum(second)
        term = term[:second] + term[second + 1:]


def einsum(equation: str, *operands) -> Tensor:
    """Sum of products over the letters of ``equation`` that the output does not name:
    ``einsum("ij,jk->ik", a, b)`` is ``a @ b``, ``"ii->"`` the trace, ``"bij->bji"`` a
    transpose, ``"i,j->ij"`` an outer product, ``"...ij,...jk"`` a batched matmul.

    Gradient: that of the ops it is made of: permute, reshape, mul and sum, or for two
    operands one batched matmul (for ``"ij,jk->ik"``: grad @ b^T for a, a^T @ grad for b).
    """
    if len(operands) == 1 and isinstance(operands[0], list | tuple):
        operands = tuple(operands[0])
    if not operands:
        raise op_error(ValueError, "einsum", "einsum(): must provide at least one operand")
    for position, operand in enumerate(operands):
        if not isinstance(operand, Tensor):
            raise op_error(TypeError, "einsum", f"einsum(): operand {position} must be a "
                           f"Tensor, not {type(operand).__name__}")
    terms, output = _parse(equation, operands)
    prepared = [_take_diagonals(term, operand)
                for term, operand in zip(terms, operands, strict=True)]
    letters = list(output)
    for term, _ in prepared:
        letters += [letter for letter in term if letter not in letters]
    sizes: dict[str, int] = {}
    for term, operand in prepared:
        for letter, size in zip(term, operand.shape, strict=True):
            known = sizes.get(letter, 1)
            if size != 1 and known not in (1, size):
                raise op_error(RuntimeError, "einsum", f"einsum(): operands do not broadcast: "
                               f"subscript {letter} has size {known} in one operand and "
                               f"{size} in another")
            sizes[letter] = max(known, size)
    if len(prepared) == 2:
        return _two_operands(*prepared[0], *prepared[1], output, sizes)
    product = None
    for term, operand in prepared:
        order = sorted(range(len(term)), key=lambda axis: letters.index(term[axis]))
        aligned = operand.permute(*order) if order != sorted(order) else operand
        shape = [operand.shape[term.index(letter)] if letter in term else 1
                 for letter in letters]
        aligned = aligned.reshape(shape)
        product = aligned if product is None else product * aligned
    contracted = tuple(range(len(output), len(letters)))
    if contracted:
        product = product.sum(contracted)
    return product


def _two_operands(term_a: str, a: Tensor, term_b: str, b: Tensor, output: str,
                  sizes: dict) -> Tensor:
    """``einsum`` of two operands as one batched matmul: (batch, kept in a, contracted) @
    (batch, contracted, kept in b), then the output's order."""
    for letter in term_a:  # a letter of one operand alone, not in the output: sum it first
        if letter not in term_b and letter not in output:
            a = a.sum(term_a.index(letter))
            term_a = term_a.replace(letter, "")
    for letter in term_b:
        if letter not in term_a and letter not in output:
            b = b.sum(term_b.index(letter))
            term_b = term_b.replace(letter, "")
    batch = [letter for letter in output if letter in term_a and letter in term_b]
    left = [letter for letter in output if letter in term_a and letter not in term_b]
    right = [letter for letter in output if letter in term_b and letter not in term_a]
    contracted = [letter for letter in term_a if letter in term_b and letter not in output]

    def as_matrices(term, operand, rows, columns):
        order = [term.index(letter) for letter in batch + rows + columns]
        if order != sorted(order):
            operand = operand.permute(*order)
        operand = operand.expand(tuple(sizes[letter] for letter in batch + rows + columns))
        return operand.reshape(math.prod(sizes[letter] for letter in batch),
                               math.prod(sizes[letter] for letter in rows),
                               math.prod(sizes[letter] for letter in columns))

    product = as_matrices(term_a, a, left, contracted) @ as_matrices(term_b, b, contracted,
                                                                     right)
    letters = batch + left + right
    product = product.reshape(tuple(sizes[letter] for letter in letters))
    order = [letters.index(letter) for letter in output]
    return product.permute(*order) if order != sorted(order) else product
