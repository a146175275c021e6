"""``numbanet.nn.parallel``: training one model on several processes.

``DistributedDataParallel`` (``distributed.py``) averages gradients across processes;
``DataParallel`` (``data_parallel.py``) is PyTorch's single-process wrapper.
"""

from numbanet.nn.parallel.data_parallel import DataParallel
from numbanet.nn.parallel.distributed import DistributedDataParallel

__all__ = ["DataParallel", "DistributedDataParallel"]
