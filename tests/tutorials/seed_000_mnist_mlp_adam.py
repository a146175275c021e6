"""Seed tutorial 000 (../shared/seeds/000_*.txt): the MNIST pipeline, an nn.Sequential MLP with
LogSoftmax trained by Adam, a custom layer, saving and loading the state dict — completed
as its reader would (it uses ``train_loader`` and ``criterion`` without defining them)."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

# 数据预处理
transform = transforms.Compose([
    transforms.ToTensor(),
    transforms.Normalize((0.1307,), (0.3081,))
])

# 加载数据
train_data = datasets.MNIST(root='./data', train=True, download=True, transform=transform)
test_data = datasets.MNIST(root='./data', train=False, download=True, transform=transform)
train_loader = DataLoader(train_data, batch_size=64, shuffle=True)

# 定义模型
model = nn.Sequential(
    nn.Flatten(),
    nn.Linear(784, 128),
    nn.ReLU(),
    nn.Linear(128, 10),
    nn.LogSoftmax(dim=1)
)
criterion = nn.NLLLoss()

# 训练模型
epochs = 3
learning_rate = 0.01
optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
for epoch in range(epochs):
    running_loss = 0.0
    for i, data in enumerate(train_loader, 0):
        inputs, labels = data
        optimizer.zero_grad()
        outputs = model(inputs)
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
    print(f'Epoch {epoch + 1}, Loss: {running_loss / len(train_loader)}')


class MyLayer(nn.Module):
    def __init__(self):
        super(MyLayer, self).__init__()

    def forward(self, x):
        return x + 1


print(MyLayer()(torch.tensor([1.0, 2.0])))

# 保存模型
torch.save(model.state_dict(), 'model.pth')

# 加载模型
model = nn.Sequential(
    nn.Flatten(),
    nn.Linear(784, 128),
    nn.ReLU(),
    nn.Linear(128, 10),
    nn.LogSoftmax(dim=1)
)
model.load_state_dict(torch.load('model.pth'))
model.eval()
with torch.no_grad():
    images, labels = next(iter(DataLoader(test_data, batch_size=128)))
    accuracy = (model(images).argmax(1) == labels).float().mean().item()
print(f'Test accuracy: {accuracy:.3f}')

if torch.cuda.is_available():
    device = torch.cuda.current_device()
    model.to(device)
