"""Linear regression: learn y = 2x from four points with one ``nn.Linear(1, 1)``.

The first program of the tutorials, unchanged except for the import: numbanet runs it with
``import numbanet as torch``. Mean squared error, plain SGD, 1,000 steps; the learned weight
ends near 2 and the bias near 0.

    python examples/linear_regression.py
"""

import numbanet as torch
import numbanet.nn as nn
import numbanet.optim as optim

torch.manual_seed(0)

# Data: y = 2x
x = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
y = torch.tensor([[2.0], [4.0], [6.0], [8.0]])


# The model: y_pred = weight * x + bias
class LinearRegression(nn.Module):
    def __init__(self):
        super(LinearRegression, self).__init__()  # noqa: UP008 - the tutorial's spelling
        self.linear = nn.Linear(1, 1)

    def forward(self, x):
        return self.linear(x)


model = LinearRegression()

# Loss and optimizer
criterion = nn.MSELoss()
optimizer = optim.SGD(model.parameters(), lr=0.01)

# Training: forward, loss, backward, update
for epoch in range(1000):
    optimizer.zero_grad()
    y_pred = model(x)
    loss = criterion(y_pred, y)
    loss.backward()
    optimizer.step()
    if (epoch + 1) % 200 == 0:
        print(f"epoch {epoch + 1:4d}  loss {loss.item():.6f}")

# The learned parameters
for name, param in model.named_parameters():
    print(name, param)
print(f"learned: y = {model.linear.weight.item():.4f} * x + {model.linear.bias.item():.4f}")
