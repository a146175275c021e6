"""Seed tutorial 002 (../shared/seeds/002_*.txt): tensor creation, arithmetic and slicing, then
a linear regression trained on a hand-written (y_pred - y).pow(2).mean() loss (the tutorial
leaves x and y to its reader: here y = 3x - 1)."""
import torch

# 创建一个2x2的张量
x = torch.tensor([[1, 2], [3, 4]])
y = x + 1
z = x[0]
w = x[:, 1]
print(y)
print(z)
print(w)


class LinearRegression(torch.nn.Module):
    def __init__(self):
        super(LinearRegression, self).__init__()
        self.linear = torch.nn.Linear(1, 1)

    def forward(self, x):
        return self.linear(x)


x = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
y = 3 * x - 1
model = LinearRegression()
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
for epoch in range(1000):
    optimizer.zero_grad()
    y_pred = model(x)
    loss = (y_pred - y).pow(2).mean()
    loss.backward()
    optimizer.step()
    if epoch % 200 == 0:
        print(f"loss: {loss.item():.6f}")
print(model.linear.weight.item(), model.linear.bias.item())
