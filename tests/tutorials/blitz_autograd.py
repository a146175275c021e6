"""60 Minute Blitz, "A Gentle Introduction to torch.autograd"
(beginner_source/blitz/autograd_tutorial.py): our version. The tutorial starts from resnet18
with ImageNet weights; offline, ours starts from random weights (``weights=None``) on a
64x64 image, and takes a few optimizer steps instead of one."""
import torch
from torch import nn, optim
from torchvision.models import resnet18

model = resnet18(weights=None)
data = torch.rand(1, 3, 64, 64)
labels = torch.rand(1, 1000)

optim_ = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
for step in range(3):
    prediction = model(data)  # forward pass
    loss = (prediction - labels).pow(2).sum()
    loss.backward()  # backward pass
    optim_.step()  # gradient descent
    optim_.zero_grad()
    print(f"loss: {loss.item():.4f}")

a = torch.tensor([2., 3.], requires_grad=True)
b = torch.tensor([6., 4.], requires_grad=True)
Q = 3 * a ** 3 - b ** 2
external_grad = torch.tensor([1., 1.])
Q.backward(gradient=external_grad)
print(9 * a ** 2 == a.grad)
print(-2 * b == b.grad)
assert bool((9 * a ** 2 == a.grad).all()) and bool((-2 * b == b.grad).all())

x = torch.rand(5, 5)
y = torch.rand(5, 5)
z = torch.rand((5, 5), requires_grad=True)
a = x + y
print(f"Does `a` require gradients?: {a.requires_grad}")
b = x + z
print(f"Does `b` require gradients?: {b.requires_grad}")

model = resnet18(weights=None)
for param in model.parameters():
    param.requires_grad = False
model.fc = nn.Linear(512, 10)
optimizer = optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)
trainable = [name for name, param in model.named_parameters() if param.requires_grad]
print(trainable)
assert trainable == ["fc.weight", "fc.bias"]
