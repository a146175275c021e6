"""int8 inference beside float: a quantized copy of a small classifier runs next to it.

Step through one iteration and the forward phase shows the same batch twice:

1. the float model: ``Linear`` (addmm), ``ReLU``, ``Linear`` — float32 all the way;
2. its int8 copy, made once by post-training static quantization (QuantStub, fused
   Linear+ReLU, calibration, ``convert``):

   - ``Quantize``: the float inputs become uint8 *levels* — see ``scale`` and ``zero_point``
     in the node's attributes and the integers in its output;
   - ``Int8LinearAccumulate``: uint8 levels times int8 weight levels, summed in **int32**
     (the output values are integers, large ones: nothing has been rounded yet);
   - ``Requantize``: one float multiply per output rescales the int32 sums to the next
     layer's uint8 levels (``input_scale``, ``output_scale``, ``zero_point``; with the ReLU
     fused, nothing goes below the zero point);
   - the second layer the same way, then ``Dequantize`` back to float scores.

Compare the int8 scores with the float ones: they differ by about one output step. Only
the float model trains (loss, backward, Adam); the int8 copy is fixed, as a deployed model
would be.
"""

import math

import numbanet as torch
import numbanet.nn as nn
import numbanet.nn.functional as F
import numbanet.optim as optim
from numbanet.ao import quantization

title = "int8 inference: quantize -> int8 matmul (int32 accumulate) -> requantize"
description = ("A 2-16-3 classifier of three blobs and its int8 copy (static post-training "
               "quantization): the int8 nodes show scales, zero points and the integers "
               "they compute with.")

torch.manual_seed(3)

points_per_class = 40
centres = [(math.cos(angle), math.sin(angle)) for angle in (0.0, 2.1, 4.2)]
points = torch.cat([torch.tensor([list(centre)]) + 0.3 * torch.randn(points_per_class, 2)
                    for centre in centres])
labels = torch.cat([torch.full((points_per_class,), label, dtype=torch.int64)
                    for label in range(len(centres))])


class Classifier(nn.Module):
    """Linear, ReLU, Linear — with the stubs that mark where int8 starts and ends."""

    def __init__(self):
        super().__init__()
        self.quant = quantization.QuantStub()
        self.hidden = nn.Linear(2, 16)
        self.relu = nn.ReLU()
        self.output = nn.Linear(16, 3)
        self.dequant = quantization.DeQuantStub()

    def forward(self, x):
        return self.dequant(self.output(self.relu(self.hidden(self.quant(x)))))


def pretrained() -> Classifier:
    """The float classifier after 40 Adam steps on all points."""
    model = Classifier()
    trainer = optim.Adam(model.parameters(), lr=0.05)
    for _ in range(40):
        trainer.zero_grad()
        F.cross_entropy(model(points), labels).backward()
        trainer.step()
    return model.eval()


def quantized_copy(model: Classifier) -> nn.Module:
    """Static quantization: fuse hidden+relu, observe the points, convert."""
    model.qconfig = quantization.get_default_qconfig("x86")
    prepared = quantization.prepare(quantization.fuse_modules(model, [["hidden", "relu"]]))
    with torch.no_grad():
        prepared(points)
    return quantization.convert(prepared)


class FloatAndInt8(nn.Module):
    """Runs the float model (which trains) and its int8 copy (fixed) on the same batch."""

    def __init__(self, float_model: Classifier):
        super().__init__()
        self.float_model = float_model
        self.int8_model = quantized_copy(float_model)

    def forward(self, x):
        scores = self.float_model(x)
        with torch.no_grad():
            self.int8_scores = self.int8_model(x)
        return scores


model = FloatAndInt8(pretrained())
criterion = nn.CrossEntropyLoss()
optimizer = optim.Adam(model.float_model.parameters(), lr=0.01)

batch_size = 6


def batch(iteration: int):
    """A different random mini-batch each iteration, the same one for the same iteration."""
    generator = torch.Generator().manual_seed(iteration)
    chosen = torch.randperm(len(points), generator=generator)[:batch_size]
    return points[chosen], labels[chosen]


if __name__ == "__main__":
    inputs, targets = batch(0)
    model.eval()
    with torch.no_grad():
        scores = model(inputs)
    print("float scores\n", scores, "\nint8 scores\n", model.int8_scores)
    print(model.int8_model)
