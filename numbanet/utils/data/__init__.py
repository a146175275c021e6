"""Feeding data to a model: datasets, batching and shuffling, as ``torch.utils.data``."""

from numbanet.utils.data.collate import default_collate
from numbanet.utils.data.dataloader import DataLoader
from numbanet.utils.data.dataset import Dataset, Subset, TensorDataset, random_split
from numbanet.utils.data.distributed import DistributedSampler

__all__ = ["DataLoader", "Dataset", "DistributedSampler", "Subset", "TensorDataset",
           "default_collate", "random_split"]
