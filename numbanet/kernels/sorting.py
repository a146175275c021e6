"""The stable merge sort of one row, written once for both devices.

:func:`sort_row` sorts row ``r`` of a batch of rows by bottom-up merge sort: runs of width
1, 2, 4 ... are merged pairwise from one half of a double buffer into the other. It is plain
Python on arrays, compiled twice without being rewritten: ``numba.njit`` for the CPU
(``numbanet.kernels.cpu.sorting``, a ``prange`` over rows) and ``cuda.jit(device=True)`` for
the GPU (``numbanet.kernels.cuda.sorting``, one thread per row).

Merge sort is *stable* — equal values keep their order — which is what ``torch.sort(...,
stable=True)`` promises; a merge takes from the right run only when its value strictly comes
first. NaN sorts as the largest value: last ascending, first descending, as in PyTorch.
"""


def passes(n: int) -> int:
    """How many merge passes a row of ``n`` values takes: the sorted row ends in half
    ``passes(n) % 2`` of the double buffer."""
    count, width = 0, 1
    while width < n:
        count += 1
        width *= 2
    return count


def sort_row(work_values, work_indices, r, descending):
    """Sort ``work_values[0, r]`` (with ``work_indices`` following it) using
    ``work_values[1, r]`` as scratch; the result lies in half ``passes(n) % 2``.

    ``work_values`` and ``work_indices`` have shape ``(2, rows, n)``; ``work_indices[0, r]``
    is filled with 0 ... n-1 here, so it ends holding each sorted value's original position.
    """
    n = work_values.shape[2]
    for k in range(n):
        work_indices[0, r, k] = k
    source = 0
    width = 1
    while width < n:
        target = 1 - source
        for start in range(0, n, 2 * width):
            middle = min(start + width, n)
            end = min(start + 2 * width, n)
            i = start  # next of the left run [start, middle)
            j = middle  # next of the right run [middle, end)
            for k in range(start, end):
                take_right = False
                if j < end:
                    if i >= middle:
                        take_right = True
                    else:
                        right = work_values[source, r, j]
                        left = work_values[source, r, i]
                        if descending:  # NaN first, then larger before smaller
                            take_right = right > left or (right != right and left == left)
                        else:  # smaller before larger, NaN last
                            take_right = right < left or (left != left and right == right)
                if take_right:
                    work_values[target, r, k] = work_values[source, r, j]
                    work_indices[target, r, k] = work_indices[source, r, j]
                    j += 1
                else:
                    work_values[target, r, k] = work_values[source, r, i]
                    work_indices[target, r, k] = work_indices[source, r, i]
                    i += 1
        source = target
        width *= 2
