"""The Tensors building blocks of bench/tensors/main.swift in PyTorch eager on CPU, same shapes,
forward + backward, mean over 5 runs after one warm-up. For measuring by hand only:
python bench/tensors_torch.py [batch]   (needs `pip install torch`; never a dependency)."""
import sys
import time

import torch
import torch.nn.functional as F

batch = int(sys.argv[1]) if len(sys.argv) > 1 else 4
repeats = 5


def timed(name, flops, step):
    step()
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    seconds = (time.perf_counter() - start) / repeats
    rate = f", {flops / seconds / 1e9:.1f} GFLOP/s" if flops else ""
    print(f"  {name}: {seconds * 1000:.2f} ms per forward+backward{rate}")


def shifted_window_mask(h, w, window, shift):
    img = torch.zeros(1, h, w, 1)
    cnt = 0
    for hs in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
        for ws in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
            img[:, hs, ws, :] = cnt
            cnt += 1
    windows = img.view(1, h // window, window, w // window, window, 1).permute(0, 1, 3, 2, 4, 5).reshape(-1, window * window)
    mask = windows.unsqueeze(1) - windows.unsqueeze(2)
    return mask.masked_fill(mask != 0, -100.0)


for threads in (1, 2):
    torch.set_num_threads(threads)
    print(f"threads {threads}")
    c, tokens = 96, batch * 56 * 56
    x = torch.randn(batch, 56, 56, c, requires_grad=True)
    w = (torch.randn(3 * c, c) * 0.02).requires_grad_()
    b = torch.zeros(3 * c, requires_grad=True)
    timed("linear (qkv)", 3 * 2 * tokens * c * 3 * c, lambda: F.linear(x, w, b).sum().backward())

    windows, heads, n, d = batch * 64, 3, 49, 32
    q, k, v = (torch.randn(windows, heads, n, d, requires_grad=True) for _ in range(3))
    mask = shifted_window_mask(56, 56, 7, 3).view(1, 64, 1, n, n)

    def attention():
        logits = (q @ k.transpose(-2, -1)) * d ** -0.5
        logits = (logits.view(batch, 64, heads, n, n) + mask).view(windows, heads, n, n)
        (logits.softmax(-1) @ v).sum().backward()
    timed("shifted window attention", 3 * 2 * 2 * windows * heads * n * n * d, attention)

    def partition():
        r = torch.roll(x, (-3, -3), (1, 2)).view(batch, 8, 7, 8, 7, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, 49, c)
        back = r.view(batch, 8, 8, 7, 7, c).permute(0, 1, 3, 2, 4, 5).reshape(batch, 56, 56, c)
        torch.roll(back, (3, 3), (1, 2)).sum().backward()
    timed("window partition + reverse (shift 3)", 0, partition)
    gamma, beta = torch.ones(c, requires_grad=True), torch.zeros(c, requires_grad=True)
    timed("layerNorm + gelu", 0, lambda: F.gelu(F.layer_norm(x, (c,), gamma, beta)).sum().backward())

    image = torch.randn(batch, 64, 56, 56, requires_grad=True)
    k3 = (torch.randn(64, 64, 3, 3) * 0.05).requires_grad_()
    pixels = batch * 56 * 56
    timed("conv2d 3x3 dilation 2", 3 * 2 * pixels * 64 * 64 * 9,
          lambda: F.conv2d(image, k3, padding=2, dilation=2).sum().backward())
    k1 = (torch.randn(64, 64, 1, 1) * 0.05).requires_grad_()
    timed("conv2d 1x1", 3 * 2 * pixels * 64 * 64, lambda: F.conv2d(image, k1).sum().backward())
    filt = torch.ones(64, 56, 29, requires_grad=True)
    timed("rfft2 -> filter -> irfft2", 0,
          lambda: torch.fft.irfft2(torch.fft.rfft2(image) * filt, s=(56, 56)).sum().backward())
