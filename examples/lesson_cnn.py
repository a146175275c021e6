"""A small convolutional network tells horizontal bars from vertical bars.

The images are 8×8 and generated here (no download): each holds one bright line,
horizontal (class 0) or vertical (class 1), at a random position, plus noise. A 3×3
convolution with 4 filters can learn edge detectors for exactly these two directions.

What to look at in the stepper:

- the ``Conv2d`` node: its input ``[8, 1, 8, 8]``, weight ``[4, 1, 3, 3]`` and output
  ``[8, 4, 8, 8]`` (``padding=1`` keeps the size); open the kernel pane (``k``) to read the
  loops of the convolution kernel;
- ``MaxPool2d`` halves each side — its backward sends each gradient to the one input that
  was the maximum, and zero to the others;
- ``Flatten`` is a reshape: no kernel runs, only the shape changes;
- ``ConvolutionBackward0`` computes the gradients of the weights and the bias, but not of the
  images: they do not require grad, so autograd skips that third kernel entirely (its
  ∂L/∂input shows as "none").
"""

import numbanet as torch
import numbanet.nn as nn
import numbanet.optim as optim

title = "Bars: Conv2d(1→4, 3×3) + MaxPool + Linear tells horizontal from vertical lines"
description = ("8×8 images with one bright line each. Four 3×3 filters, ReLU, 2×2 max "
               "pooling, and a linear layer over the 4×4×4 features; cross-entropy; SGD.")

torch.manual_seed(2)

image_size = 8


def make_bars(count: int):
    """``count`` images of one bright bar each, and labels (0 horizontal, 1 vertical)."""
    images = 0.1 * torch.randn(count, 1, image_size, image_size)
    labels = torch.randint(0, 2, (count,))
    positions = torch.randint(1, image_size - 1, (count,))
    for index, (label, position) in enumerate(zip(labels.tolist(), positions.tolist(),
                                                  strict=True)):
        if label == 0:
            images[index, 0, position, :] += 1.0
        else:
            images[index, 0, :, position] += 1.0
    return images, labels


images, labels = make_bars(64)

model = nn.Sequential(
    nn.Conv2d(1, 4, kernel_size=3, padding=1),
    nn.ReLU(),
    nn.MaxPool2d(2),
    nn.Flatten(),
    nn.Linear(4 * 4 * 4, 2),
)
criterion = nn.CrossEntropyLoss()
optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

batch_size = 8


def batch(iteration: int):
    """Eight images, walking through the data set in order."""
    start = (iteration * batch_size) % len(images)
    return images[start:start + batch_size], labels[start:start + batch_size]
