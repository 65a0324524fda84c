"""Export the small "real-world" example networks (CNN, residual block, input normalisation with
LeakyReLU) from PyTorch with the legacy exporter, eval mode, opset 17.

torch is not a dependency of lipc; regenerate with (torch 2.13.0 CPU was used)::

    /tmp/torchenv/bin/python examples/make_torch_realworld.py

Files: cnn_bn_maxpool_1x8x8.onnx, residual_6_8_3.onnx, normalised_leaky_4_10_3.onnx.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

HERE = Path(__file__).resolve().parent


class Residual(nn.Module):
    """x -> h = relu(W1 x) -> relu(W2 h + h) -> W3."""

    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(6, 8)
        self.mid = nn.Linear(8, 8)
        self.out = nn.Linear(8, 3)

    def forward(self, x):
        h = torch.relu(self.inp(x))
        return self.out(torch.relu(self.mid(h) + h))


class Normalised(nn.Module):
    """(x - mean) / std, then Linear, LeakyReLU(0.1), Linear."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.5, 0.4, 0.3, 0.6]))
        self.register_buffer("std", torch.tensor([0.2, 0.25, 0.5, 0.1]))
        self.body = nn.Sequential(nn.Linear(4, 10), nn.LeakyReLU(0.1), nn.Linear(10, 3))

    def forward(self, x):
        return self.body((x - self.mean) / self.std)


def cnn() -> nn.Module:
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 2 * 2, 8), nn.ReLU(),
        nn.Linear(8, 3))
    with torch.no_grad():        # non-trivial batch-norm statistics
        bn = net[1]
        bn.running_mean.uniform_(-0.2, 0.2)
        bn.running_var.uniform_(0.5, 1.5)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.2, 0.2)
    return net


def export(model: nn.Module, shape: tuple[int, ...], name: str) -> None:
    model.eval()
    torch.onnx.export(model, (torch.zeros(shape),), str(HERE / name), input_names=["x"],
                      output_names=["y"], opset_version=17, dynamo=False)
    print("wrote", name)


if __name__ == "__main__":
    torch.manual_seed(11)
    export(cnn(), (1, 1, 8, 8), "cnn_bn_maxpool_1x8x8.onnx")
    torch.manual_seed(12)
    export(Residual(), (1, 6), "residual_6_8_3.onnx")
    torch.manual_seed(13)
    export(Normalised(), (1, 4), "normalised_leaky_4_10_3.onnx")
