"""A run that blows up: linear regression with a learning rate a hundred times too large.

The same eight points on y = 3x + 2 as ``lesson_linear_regression.py``, but SGD with
``lr = 50``. Each step overshoots the minimum by more than it was away from it, so the
weight swings wider every iteration (about 40 times wider), until float32 overflows:
the loss becomes ``inf``, then ``nan``, and so does every gradient after it.

Find the first op that produced a non-finite value::

    numbanet step examples/lesson_diverging.py
    b  nan  Enter        (a NaN/Inf breakpoint; "nan 60" to search up to 60 iterations)
    c                    (records new iterations until one holds a NaN or an Inf)

The stepper stops at that node and shows the offending elements and the inputs that made
them.
"""

import numbanet as torch
import numbanet.nn as nn
import numbanet.optim as optim

title = "Diverging: linear regression with SGD at lr = 50 (watch it overflow)"
description = ("y = 3x + 2 learned by one nn.Linear(1, 1) with MSE and SGD at a learning rate "
               "of 50: every step overshoots, the weight grows about 40x per iteration and "
               "float32 overflows to inf within about 25 iterations. Set a 'nan' breakpoint "
               "and press c to find the first op that produced a NaN or an Inf.")

torch.manual_seed(0)

inputs = torch.linspace(-1.0, 1.0, 8).reshape(8, 1)
targets = 3.0 * inputs + 2.0 + 0.05 * torch.randn(8, 1)

model = nn.Linear(1, 1)
criterion = nn.MSELoss()
optimizer = optim.SGD(model.parameters(), lr=50.0)
