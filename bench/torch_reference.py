"""PyTorch eager reference for `mtl-engine bench`: the same multi-task model (timm's Swin
backbone, one HRNet head per task with per-task 1x1 projections of the merged stage
features) trained with AdamW on random batches, on CPU with a fixed thread count.

Not part of the product: PyTorch and timm come from pip, for side-by-side numbers only.

    python bench/torch_reference.py --shape default --threads 2
    python bench/torch_reference.py --shape swin_t --threads 2 --batch 4 --steps 3
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.models.swin_transformer import SwinTransformer

# The engine's named shapes (Sources/Engine/Config/Profiles.swift).
SHAPES = {
    "default": dict(embed_dim=32, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8), window_size=4, image=64, batch=16),
    "smoke": dict(embed_dim=16, depths=(1, 1, 1, 1), num_heads=(1, 2, 4, 8), window_size=4, image=32, batch=4),
    "swin_t": dict(embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24), window_size=7, image=224, batch=8),
}
# PASCAL-Context's tasks and their output channels.
TASKS = {"semseg": 21, "human_parts": 7, "saliency": 1, "normals": 3}


class HRNetHead(nn.Module):
    def __init__(self, dims, channels, outputs):
        super().__init__()
        self.project = nn.ModuleList(nn.Conv2d(d, c, 1, bias=False) for d, c in zip(dims, channels))
        # MTLoRA's head widens the concatenated projections fourfold before BatchNorm.
        widened = 4 * sum(channels)
        self.fuse = nn.Conv2d(sum(channels), widened, 1)
        self.norm = nn.BatchNorm2d(widened)
        self.classify = nn.Conv2d(widened, outputs, 1)

    def forward(self, features, size):
        maps = [p(f) for p, f in zip(self.project, features)]
        h, w = maps[0].shape[-2:]
        maps = [maps[0]] + [F.interpolate(m, size=(h, w), mode="bilinear", align_corners=False) for m in maps[1:]]
        x = self.classify(F.relu(self.norm(self.fuse(torch.cat(maps, 1)))))
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class MultiTaskSwin(nn.Module):
    """`outputs`: channels per task (TASKS by default); bench/torch_engine.py trains it."""

    def __init__(self, shape, outputs=None, drop_path_rate=0.0):
        super().__init__()
        c = shape["embed_dim"]
        self.backbone = SwinTransformer(
            img_size=shape["image"], embed_dim=c, depths=shape["depths"], num_heads=shape["num_heads"],
            window_size=shape["window_size"], num_classes=0, drop_path_rate=drop_path_rate)
        dims = [2 * c, 4 * c, 8 * c, 8 * c]
        channels = [max(4, (k * c + 48) // 96) for k in (18, 36, 72, 144)]
        self.heads = nn.ModuleDict({t: HRNetHead(dims, channels, n) for t, n in (outputs or TASKS).items()})

    def stage_features(self, x):
        x = self.backbone.patch_embed(x)
        outputs = []
        for layer in self.backbone.layers:
            x = layer.downsample(x)
            if outputs:
                outputs[-1] = x  # the previous stage's features are taken after this merge
            x = layer.blocks(x)
            outputs.append(x)
        return [o.permute(0, 3, 1, 2) for o in outputs]  # NHWC -> NCHW

    def forward(self, x):
        features = self.stage_features(x)
        return {t: head(features, x.shape[-2:]) for t, head in self.heads.items()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", choices=SHAPES, default="default")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    shape = SHAPES[args.shape]
    batch = args.batch or shape["batch"]
    model = MultiTaskSwin(shape)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05)
    s = shape["image"]
    images = torch.randn(batch, 3, s, s)
    labels = {
        "semseg": torch.randint(0, 21, (batch, s, s)),
        "human_parts": torch.randint(0, 7, (batch, s, s)),
        "saliency": (torch.rand(batch, 1, s, s) > 0.5).float(),
        "normals": F.normalize(torch.randn(batch, 3, s, s), dim=1),
    }
    weights = {"semseg": 1, "human_parts": 2, "saliency": 5, "normals": 10}

    def step():
        optimizer.zero_grad(set_to_none=True)
        out = model(images)
        loss = weights["semseg"] * F.cross_entropy(out["semseg"], labels["semseg"], ignore_index=255)
        loss = loss + weights["human_parts"] * F.cross_entropy(out["human_parts"], labels["human_parts"], ignore_index=255)
        loss = loss + weights["saliency"] * F.binary_cross_entropy_with_logits(out["saliency"], labels["saliency"])
        loss = loss + weights["normals"] * (F.normalize(out["normals"], dim=1) - labels["normals"]).abs().mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()

    for _ in range(args.warmup):
        step()
    start, cpu_start = time.perf_counter(), time.process_time()
    step_seconds = []
    for _ in range(args.steps):
        step_start = time.perf_counter()
        step()
        step_seconds.append(time.perf_counter() - step_start)
    seconds = time.perf_counter() - start
    median = statistics.median(step_seconds)
    cpu_seconds = time.process_time() - cpu_start
    print(json.dumps({"shape": args.shape, "threads": args.threads, "batch": batch, "steps": args.steps,
                      "images_per_second": batch * args.steps / seconds,
                      "seconds_per_step": seconds / args.steps,
                      "median_images_per_second": batch / median, "median_seconds_per_step": median,
                      "cpu_seconds_per_step": cpu_seconds / args.steps, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
