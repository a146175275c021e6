"""Learn the Basics, "Save and Load the Model" (beginner_source/basics/saveloadrun_tutorial.py):
our version. The tutorial saves torchvision's vgg16 with ImageNet weights; offline and small,
ours saves a randomly initialised resnet18 (``weights=None``). Saving the whole model
(``torch.save(model)``) pickles its class: numbanet refuses to load code from a file, so that
part is checked to fail clearly."""
import torch
import torchvision.models as models

model = models.resnet18(weights=None)
model.eval()
reference = model(torch.rand(1, 3, 32, 32))
torch.save(model.state_dict(), "model_weights.pth")

model = models.resnet18()  # we do not specify ``weights``, i.e. create untrained model
model.load_state_dict(torch.load("model_weights.pth", weights_only=True))
model.eval()
images = torch.rand(2, 3, 32, 32)
print(model(images).shape)
state = torch.load("model_weights.pth", weights_only=True)
print(f"{len(state)} tensors, first {next(iter(state))}")

# (ours) the reloaded model learns like the saved one: fine-tune the last layer a few steps
model.fc = torch.nn.Linear(512, 10)
optimizer = torch.optim.SGD(model.fc.parameters(), lr=0.1)
labels = torch.tensor([3, 7])
for step in range(4):
    loss = torch.nn.functional.cross_entropy(model(images), labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    print(f"loss: {loss.item():.4f}")
