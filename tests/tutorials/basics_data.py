"""Learn the Basics, "Datasets & DataLoaders" (beginner_source/basics/data_tutorial.py): our
version; the plots are left out, the custom dataset reads PNG files written here and a CSV
(through the csv module instead of pandas)."""
import csv
import os

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import datasets
from torchvision.io import read_image
from torchvision.transforms import ToTensor

training_data = datasets.FashionMNIST(root="data", train=True, download=True, transform=ToTensor())
test_data = datasets.FashionMNIST(root="data", train=False, download=True, transform=ToTensor())

labels_map = {0: "T-Shirt", 1: "Trouser", 2: "Pullover", 3: "Dress", 4: "Coat", 5: "Sandal",
              6: "Shirt", 7: "Sneaker", 8: "Bag", 9: "Ankle Boot"}
for i in range(1, 10):
    sample_idx = torch.randint(len(training_data), size=(1,)).item()
    img, label = training_data[sample_idx]
    print(labels_map[label], tuple(img.squeeze().shape))


class CustomImageDataset(Dataset):
    def __init__(self, annotations_file, img_dir, transform=None, target_transform=None):
        with open(annotations_file, newline="") as file:
            self.img_labels = [(row[0], int(row[1])) for row in csv.reader(file)]
        self.img_dir = img_dir
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self):
        return len(self.img_labels)

    def __getitem__(self, idx):
        img_path = os.path.join(self.img_dir, self.img_labels[idx][0])
        image = read_image(img_path)
        label = self.img_labels[idx][1]
        if self.transform:
            image = self.transform(image)
        if self.target_transform:
            label = self.target_transform(label)
        return image, label


os.makedirs("images", exist_ok=True)
with open("labels.csv", "w", newline="") as file:
    writer = csv.writer(file)
    for index in range(6):
        name = f"item{index}.png"
        Image.fromarray(np.full((28, 28), index * 40, dtype=np.uint8)).save(f"images/{name}")
        writer.writerow([name, index % 3])
custom = CustomImageDataset("labels.csv", "images",
                            transform=lambda image: image.float() / 255)
image, label = custom[5]
print(f"custom item: {tuple(image.shape)} {image.dtype} label {label} max {image.max().item():.3f}")
assert tuple(image.shape) == (1, 28, 28) and label == 2

train_dataloader = DataLoader(training_data, batch_size=64, shuffle=True)
test_dataloader = DataLoader(test_data, batch_size=64, shuffle=True)

train_features, train_labels = next(iter(train_dataloader))
print(f"Feature batch shape: {train_features.size()}")
print(f"Labels batch shape: {train_labels.size()}")
img = train_features[0].squeeze()
label = train_labels[0]
print(f"Label: {label}")
assert tuple(train_features.size()) == (64, 1, 28, 28)
for features, labels in DataLoader(custom, batch_size=4):
    print(tuple(features.shape), labels.tolist())
