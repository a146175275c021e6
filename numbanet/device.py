"""Where a tensor's storage lives: ``numbanet.device("cpu")`` or ``numbanet.device("cuda")``."""

from __future__ import annotations


class device:  # noqa: N801 - PyTorch's spelling, so `torch.device("cuda")` code runs
    """A device type plus an optional index, compared by value: ``device("cuda:0")``."""

    __slots__ = ("type", "index")

    def __init__(self, spec: str | device | int = "cpu", index: int | None = None):
        if isinstance(spec, device):
            self.type, self.index = spec.type, spec.index
            return
        if isinstance(spec, int):  # torch.cuda.current_device() returns an int index
            self.type, self.index = "cuda", spec
            return
        kind, _, number = str(spec).partition(":")
        if kind not in ("cpu", "cuda"):
            raise RuntimeError(
                f"Expected one of cpu, cuda device type at start of device string: {spec}"
            )
        self.type = kind
        self.index = int(number) if number else index

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            other = device(other)
        if not isinstance(other, device):
            return NotImplemented
        return self.type == other.type and (self.index or 0) == (other.index or 0)

    def __hash__(self) -> int:
        return hash((self.type, self.index or 0))

    def __repr__(self) -> str:
        inner = f"'{self.type}'" if self.index is None else f"'{self.type}', index={self.index}"
        return f"device(type={inner})"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"


CPU = device("cpu")


def as_device(value) -> device:
    """Turn a string, int or device into a device (None means the CPU)."""
    return CPU if value is None else device(value)
