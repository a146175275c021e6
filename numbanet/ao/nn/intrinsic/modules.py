"""The fused float modules ``fuse_modules`` makes (see the package docstring)."""

from numbanet.nn.container import Sequential


class LinearReLU(Sequential):
    """``Linear`` then ``ReLU``, as one module."""

    def __init__(self, linear, relu):
        super().__init__(linear, relu)

    @property
    def linear(self):
        return self[0]


class ConvReLU2d(Sequential):
    """``Conv2d`` then ``ReLU``, as one module."""

    def __init__(self, conv, relu):
        super().__init__(conv, relu)

    @property
    def conv(self):
        return self[0]
