"""Broadcasting as strides, numpy's rule, for both backends.

An array reads as if it had a larger shape when the axes it lacks, and its size-1 axes
that must stretch, get stride 0: every index along them reaches the same element, and no
element is copied. The CPU backend builds its fast broadcast views with this
(``cpu/views.py``), the CUDA backend every view and strided kernel argument
(``cuda/layout.py``).
"""


def broadcast_strides(shape: tuple, strides: tuple, target: tuple) -> tuple:
    """The strides that make an array of ``shape`` and ``strides`` read as if broadcast to
    ``target``. Shapes are lined up from the right; missing leading axes and size-1 axes
    that stretch get stride 0, the others keep theirs. Strides may count bytes (numpy) or
    elements (the CUDA backend): they are kept or zeroed, never scaled."""
    missing = len(target) - len(shape)
    if missing < 0:
        raise _mismatch(shape, target)
    stretched = [0] * missing
    for axis in range(len(shape)):  # (indexing: zip's strict= keyword costs more here)
        extent, wanted = shape[axis], target[missing + axis]
        if extent == wanted:
            stretched.append(strides[axis])
        elif extent == 1:
            stretched.append(0)
        else:
            raise _mismatch(shape, target)
    return tuple(stretched)


def _mismatch(shape: tuple, target: tuple) -> ValueError:
    return ValueError(f"cannot broadcast an array of shape {tuple(shape)} to shape "
                      f"{tuple(target)}")
