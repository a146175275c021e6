"""Learn the Basics, "Transforms" (beginner_source/basics/transforms_tutorial.py): our version."""
import torch
from torchvision import datasets
from torchvision.transforms import Lambda, ToTensor

ds = datasets.FashionMNIST(
    root="data",
    train=True,
    download=True,
    transform=ToTensor(),
    target_transform=Lambda(lambda y: torch.zeros(10, dtype=torch.float).scatter_(0, torch.tensor(y), value=1)),
)
image, target = ds[0]
print(tuple(image.shape), image.dtype, target)
assert target.sum().item() == 1.0 and target.shape == (10,)
