"""Handwritten digits on several processes: the MLP of mnist_mlp.py, trained data-parallel.

PyTorch's DistributedDataParallel recipe, with ``import numbanet as torch``:

1. every process joins the group (``init_process_group``) and learns its rank;
2. a ``DistributedSampler`` gives each process its own share of every epoch;
3. ``DistributedDataParallel`` starts every process from rank 0's weights and averages the
   gradients across processes after each ``backward()``, so every process takes the same
   optimizer step and the copies of the model stay identical.

::

    numbanet run -n 2 examples/mnist_ddp.py --epochs 5       # 2 processes
    mpiexec -n 2 python examples/mnist_ddp.py --epochs 5      # the same, with MPI's launcher
    python examples/mnist_ddp.py                              # 1 process: plain training

``--batch-size`` is per process, as in PyTorch: 2 processes with 64 each take steps on 128
digits, so an epoch has half as many steps. Only rank 0 prints and tests.
"""

import argparse
import time

from common import ProgressBar, default_data_dir, train_and_test_sets

import numbanet as torch
import numbanet.distributed as dist
import numbanet.nn as nn
from numbanet.nn.parallel import DistributedDataParallel
from numbanet.utils.data import DataLoader, DistributedSampler
from numbanet.vision import transforms


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=default_data_dir(),
                        help="folder with the MNIST IDX files (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64, help="per process")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", default=None, metavar="FILE.pth",
                        help="save the trained weights (rank 0; loadable without DDP)")
    args = parser.parse_args()

    dist.init_process_group(backend="mpi")
    rank, world_size = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(args.seed)
    started = time.perf_counter()

    transform = transforms.Compose([
        transforms.ToTensor(),
        transforms.Normalize((0.1307,), (0.3081,))
    ])
    train_data, test_data, split = train_and_test_sets(args.data, transform)
    # Each rank sees its own 1/world_size of every epoch, in an order all ranks agree on
    sampler = DistributedSampler(train_data, seed=args.seed)
    train_loader = DataLoader(train_data, batch_size=args.batch_size, sampler=sampler)

    model = nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
        nn.LogSoftmax(dim=1)
    )
    model = DistributedDataParallel(model)  # rank 0's weights on every rank
    criterion = nn.NLLLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    if rank == 0:
        print(split)
        print(f"{world_size} process(es) x batch {args.batch_size} = "
              f"{world_size * args.batch_size} digits per step, "
              f"{len(train_loader)} steps per epoch")

    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)  # a new shuffle each epoch, the same on every rank
        model.train()
        running_loss = 0.0
        progress = ProgressBar(f"Epoch {epoch + 1}/{args.epochs}", len(train_loader))
        for i, (inputs, labels) in enumerate(train_loader):
            optimizer.zero_grad()
            loss = criterion(model(inputs), labels)
            loss.backward()  # this rank's gradients, then their average over all ranks
            optimizer.step()
            running_loss += loss.item()
            if rank == 0:
                progress.update(i + 1, labels.size(0) * world_size, running_loss / (i + 1))
        # The printed loss: the mean over every rank's batches, not only rank 0's
        mean_loss = torch.tensor([running_loss / len(train_loader)])
        dist.all_reduce(mean_loss, op=dist.ReduceOp.AVG)
        if rank == 0:
            seconds = progress.close()
            print(f"  mean loss over all ranks {mean_loss.item():.4f}, {seconds:.1f} s")

    if rank == 0:
        network = model.module  # the plain model inside the wrapper
        network.eval()
        correct = total = 0
        with torch.no_grad():
            for images, labels in DataLoader(test_data, batch_size=1000):
                _, predicted = torch.max(network(images), 1)
                total += labels.size(0)
                correct += (predicted == labels).sum().item()
        print(f"Accuracy of the network on the {total} test images: "
              f"{100 * correct / total:.2f}%")
        if args.save:
            torch.save(network.state_dict(), args.save)  # keys without "module."
            print(f"saved {args.save}")
        print(f"Wall time: {time.perf_counter() - started:.1f} s")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
