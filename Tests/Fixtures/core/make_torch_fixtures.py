"""Reference outputs from real PyTorch for the core engine tests (Tests/Core/TorchFixtureTests.cs).

Rerun (dev only; needs torch 1.13, numpy):  /usr/bin/python3 Tests/Fixtures/core/make_torch_fixtures.py
Writes into this folder (about 0.3 MB):
  net_weights.npz          state_dict of the seeded VGG-style Net below (float32; num_batches_tracked dropped)
  net_input_a.npy          float32[2, 3, 37, 37]  seeded randn
  net_logits_a.npy, net_softmax_a.npy, net_log_softmax_a.npy   float32[2, 10]
  net_input_b.npy          float32[1, 3, 45, 29]  (another size: adaptive pool bins differ)
  net_logits_b.npy, net_softmax_b.npy, net_log_softmax_b.npy   float32[1, 10]
  adaptive_in.npy float32[2, 3, 10, 10] -> adaptive_7x7.npy (AdaptiveAvgPool2d((7, 7)), overlapping bins)
  adaptive_in2.npy float32[1, 2, 13, 11] -> adaptive_4x3.npy (AdaptiveAvgPool2d((4, 3)))
  pool_in.npy float32[1, 2, 5, 5] -> maxpool_k2s2p1_ceil.npy (MaxPool2d(2, 2, padding=1, ceil_mode=True): 3x3,
      the 4th window would start in the padding and is dropped)
  pool_in6.npy float32[1, 2, 6, 6] -> avgpool_k3s2p1_ceil_incl.npy (AvgPool2d(3, 2, 1, ceil_mode=True,
      count_include_pad=True)) and avgpool_k3s2p1_ceil_excl.npy (count_include_pad=False)
"""
import os
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


class Net(nn.Module):
    """features: conv-BN-ReLU, conv-ReLU, maxpool 2 s2 ceil, conv-BN-ReLU, maxpool 3 s2 p1 ceil, conv-ReLU-BN;
    AdaptiveAvgPool2d((7, 7)); classifier: Flatten, Linear(784, 32), ReLU, Dropout, Linear(32, 10), BatchNorm1d(10)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
            nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(2, 2, ceil_mode=True),
            nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, padding=1, ceil_mode=True),
            nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(inplace=True), nn.BatchNorm2d(16),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(16 * 7 * 7, 32), nn.ReLU(inplace=True), nn.Dropout(0.5),
            nn.Linear(32, 10), nn.BatchNorm1d(10),
        )

    def forward(self, x):
        return self.classifier(self.avgpool(self.features(x)))


def save(name, t):
    np.save(os.path.join(HERE, name), np.ascontiguousarray(t.detach().numpy().astype(np.float32)))


def main():
    torch.manual_seed(0)
    net = Net()
    g = torch.Generator().manual_seed(1)
    for m in net.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = m.num_features
            m.weight.data = 0.5 + torch.rand(n, generator=g)
            m.bias.data = 0.2 * torch.randn(n, generator=g)
            m.running_mean.data = 0.2 * torch.randn(n, generator=g)
            m.running_var.data = 0.5 + torch.rand(n, generator=g)
    net.eval()
    sd = {k: v.detach().numpy().astype(np.float32) for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    np.savez(os.path.join(HERE, "net_weights.npz"), **sd)
    with torch.no_grad():
        for tag, shape in (("a", (2, 3, 37, 37)), ("b", (1, 3, 45, 29))):
            x = torch.randn(*shape, generator=g)
            logits = net(x)
            save(f"net_input_{tag}.npy", x)
            save(f"net_logits_{tag}.npy", logits)
            save(f"net_softmax_{tag}.npy", F.softmax(logits, dim=1))
            save(f"net_log_softmax_{tag}.npy", F.log_softmax(logits, dim=1))
        a = torch.randn(2, 3, 10, 10, generator=g)
        save("adaptive_in.npy", a)
        save("adaptive_7x7.npy", F.adaptive_avg_pool2d(a, (7, 7)))
        a2 = torch.randn(1, 2, 13, 11, generator=g)
        save("adaptive_in2.npy", a2)
        save("adaptive_4x3.npy", F.adaptive_avg_pool2d(a2, (4, 3)))
        p = torch.randn(1, 2, 5, 5, generator=g)
        save("pool_in.npy", p)
        mp = F.max_pool2d(p, 2, 2, padding=1, ceil_mode=True)
        assert mp.shape[-1] == 3, mp.shape
        save("maxpool_k2s2p1_ceil.npy", mp)
        p6 = torch.randn(1, 2, 6, 6, generator=g)
        save("pool_in6.npy", p6)
        save("avgpool_k3s2p1_ceil_incl.npy", F.avg_pool2d(p6, 3, 2, 1, ceil_mode=True, count_include_pad=True))
        save("avgpool_k3s2p1_ceil_excl.npy", F.avg_pool2d(p6, 3, 2, 1, ceil_mode=True, count_include_pad=False))


if __name__ == "__main__":
    main()
