#!/usr/bin/env python3
"""A PyTorch reference engine that cross-checks mtl-engine (issue 19; docs/results.md, "PyTorch
reference engine").

timm's SwinTransformer at mtl-engine's shapes with the HRNet heads of bench/torch_reference.py,
trained with mtl-engine's recipe (docs/engine.md "Training recipe"): the same losses and loss
weights, AdamW with no decay on 1-D parameters and relative position tables, the decoder at
`decoder_lr_scale` x the rate, linear warm-up then cosine per step to min_lr, gradient clipping,
the papers' augmentation (flip, scale 0.75-1.25, rotation +-20 degrees, ported from
Sources/Engine/Data/Augmentation.swift), PyTorch's default init for the heads with class-prior
biases on the segmentation classifiers, and the same metrics (Sources/Engine/Tasks/Metrics.swift).
Methods: full fine-tuning, LoRA (`method: lora`, single-task or shared multi-task) and MTLoRA
(`method: mtlora`, kind mtl_full: shared modules on every block's qkv, proj, fc1 and fc2, task
modules and per-task streams in the last block of every stage of `task_specific_stages`, the task
streams through the next patch merging into their decoders, LoRA dropout 0.05 and drop path 0.2
by default), as docs/methods.md and Sources/Engine describe them.
It reads the synthetic scenes that `mtl-engine export` writes in the PASCAL-Context layout
(`data_root`), starting from a backbone in timm's names (`backbone_weights: swin_mini-synthetic-1k`,
the file mtl-engine ships, or `pretrained: PATH`).

It honours the run contract through python/sweep_engine.py (progress.jsonl, checkpoints every
epoch, resume, SIGTERM, metrics.json). Not part of the product: torch and timm come from pip, for
by-hand runs only (`pip install torch timm`). Run through sweep with experiments/torch-reference.yaml,
or by hand:

    bench/torch_engine.py --config RUN_DIR/config.json --out RUN_DIR
    bench/torch_engine.py --version

What differs from mtl-engine by construction: the random draws (weights of the heads and
adapters, batch order, augmentation, dropout and drop-path masks) come from torch's and numpy's
generators seeded by `seed` (batch order and augmentation per epoch; torch's generator state is
checkpointed, so a resumed run draws the masks the uninterrupted one would), not mtl-engine's,
so single runs differ and only means over seeds can agree; the images come through the export's
16-bit PNG (within 1/131070 of mtl-engine's floats).
"""
import json
import math
import os
import struct
import sys
import time
import zlib

HERE = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
sys.path.insert(0, HERE)

import sweep_engine  # noqa: E402

VERSION = "torch-reference 1"
IGNORE = 255
# mtl-engine's backbone shapes (Sources/Engine/Config/Profiles.swift, BackboneShape.named).
BACKBONES = {
    "swin_nano": dict(embed_dim=16, depths=(1, 1, 1, 1), num_heads=(1, 2, 4, 8), window_size=4),
    "swin_mini": dict(embed_dim=32, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8), window_size=4),
    "swin_t": dict(embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24), window_size=7),
}
# mtl-engine's profiles for fine-tuning runs (Profile.values); train/val sizes are the export's
# when data_root holds fewer.
PROFILES = {
    "smoke": dict(backbone="swin_nano", image_size=32, epochs=2, batch_size=4, train_images=8, val_images=4,
                  lr=1e-3, warmup_epochs=0.5),
    "default": dict(backbone="swin_mini", image_size=64, epochs=10, batch_size=16, train_images=256,
                    val_images=512, lr=1e-3, warmup_epochs=1),
}
PASCAL_TASKS = ["semseg", "human_parts", "saliency", "normals"]
LOSS_WEIGHTS = {"semseg": 1, "human_parts": 2, "saliency": 5, "normals": 10}
DIRECTIONS = {"semseg": "higher", "human_parts": "higher", "saliency": "higher", "normals": "lower"}
METRIC_NAMES = {"semseg": "mIoU", "human_parts": "mIoU", "saliency": "mIoU", "normals": "rmse"}
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
KEYS = {"kind", "task", "tasks", "dataset", "profile", "seed", "data_root", "backbone", "backbone_weights",
        "pretrained", "image_size", "epochs", "batch_size", "train_images", "val_images", "lr", "min_lr",
        "weight_decay", "warmup_epochs", "clip_grad", "decoder_lr_scale", "loss_weights", "method",
        "progress_every", "needs", "rank", "adapter_locations", "others_trainable", "lora_scale", "task_rank",
        "task_specific_stages", "lora_dropout", "drop_path_rate"}
LOW_RANK_KEYS = ("rank", "adapter_locations", "others_trainable", "lora_scale", "lora_dropout")
MTLORA_KEYS = ("task_rank", "task_specific_stages")
# mtl-engine's `task_specific_stages` values (MethodConfig.swift): 1-based stages whose last block splits.
TASK_SPECIFIC_STAGES = ("4", "3", "4,3", "4,3,2,1")


# ---------------------------------------------------------------------------------------------
# Config


def resolve(config):
    """The run's settings with mtl-engine's defaults; BadInput names the key that is wrong."""
    unknown = sorted(set(config) - KEYS)
    if unknown:
        raise sweep_engine.BadInput(unknown[0], f"not a key this engine knows (it knows {', '.join(sorted(KEYS))})")
    kind = config.get("kind")
    if kind not in ("single_task", "mtl_full"):
        raise sweep_engine.BadInput("kind", f"expected single_task or mtl_full, got {kind!r}")
    method = config.get("method", "full")
    if method not in ("full", "lora", "mtlora"):
        raise sweep_engine.BadInput("method", f"this engine implements full, lora and mtlora, got {method!r}")
    if method == "full" and any(k in config for k in LOW_RANK_KEYS):
        raise sweep_engine.BadInput("method", f"{', '.join(LOW_RANK_KEYS)} need method lora or mtlora")
    if method != "mtlora" and any(k in config for k in MTLORA_KEYS):
        raise sweep_engine.BadInput("method", f"{', '.join(MTLORA_KEYS)} need method: mtlora")
    if method == "mtlora" and kind != "mtl_full":
        raise sweep_engine.BadInput("kind", "method mtlora needs kind: mtl_full")
    locations = ("attn_mlp",) if method == "mtlora" else ("attn", "attn_mlp")
    if config.get("adapter_locations", "attn_mlp") not in locations:
        raise sweep_engine.BadInput("adapter_locations", f"expected {' or '.join(locations)} for method {method}")
    if str(config.get("task_specific_stages", "4,3,2,1")) not in TASK_SPECIFIC_STAGES:
        raise sweep_engine.BadInput("task_specific_stages", f"expected one of {', '.join(TASK_SPECIFIC_STAGES)}")
    for key in ("lora_dropout", "drop_path_rate"):
        if not 0 <= float(config.get(key, 0)) < 1:
            raise sweep_engine.BadInput(key, "expected a number in [0, 1)")
    if config.get("dataset", "pascal") != "pascal":
        raise sweep_engine.BadInput("dataset", "this engine reads the PASCAL-Context layout only (dataset: pascal)")
    profile = config.get("profile", "default")
    if profile not in PROFILES:
        raise sweep_engine.BadInput("profile", f"expected one of {', '.join(PROFILES)}, got {profile!r}")
    settings = dict(PROFILES[profile])
    for key in ("backbone", "image_size", "epochs", "batch_size", "train_images", "val_images", "lr", "warmup_epochs"):
        if key in config:
            settings[key] = config[key]
    if settings["backbone"] not in BACKBONES:
        raise sweep_engine.BadInput("backbone", f"expected one of {', '.join(BACKBONES)}, got {settings['backbone']!r}")
    if kind == "single_task":
        if config.get("task") not in PASCAL_TASKS:
            raise sweep_engine.BadInput("task", f"a single_task run needs a task among {', '.join(PASCAL_TASKS)}")
        tasks = [config["task"]]
    else:
        tasks = config.get("tasks", PASCAL_TASKS)
        if not tasks or any(t not in PASCAL_TASKS for t in tasks):
            raise sweep_engine.BadInput("tasks", f"expected tasks among {', '.join(PASCAL_TASKS)}, got {tasks!r}")
    root = config.get("data_root")
    if not root or not os.path.isfile(os.path.join(root, "synthetic.json")):
        raise sweep_engine.BadInput("data_root", "expected a directory written by `mtl-engine export` "
                                    f"(with synthetic.json), got {root!r}")
    if "backbone_weights" in config:
        weights = os.path.join(HERE, "..", "Sources", "Engine", "Pretrained", config["backbone_weights"] + ".safetensors")
        if not os.path.isfile(weights):
            raise sweep_engine.BadInput("backbone_weights", f"no bundled backbone at {weights}")
    else:
        weights = config.get("pretrained")
        if weights is not None and not os.path.isfile(weights):
            raise sweep_engine.BadInput("pretrained", f"no file at {weights}")
    weights_given = {t: float(w) for t, w in (config.get("loss_weights") or {}).items()}
    settings.update(
        kind=kind, tasks=tasks, seed=int(config.get("seed", 0)), data_root=root, weights=weights,
        min_lr=config.get("min_lr", settings["lr"] * 0.01), weight_decay=config.get("weight_decay", 0.05),
        clip_grad=config.get("clip_grad", 5.0), decoder_lr_scale=config.get("decoder_lr_scale", 10),
        loss_weights={t: weights_given.get(t, LOSS_WEIGHTS[t]) for t in tasks},
        progress_every=int(config.get("progress_every", 0)), method=method, rank=int(config.get("rank", 16)),
        adapter_locations=config.get("adapter_locations", "attn_mlp"),
        others_trainable=bool(config.get("others_trainable", True)), lora_scale=float(config.get("lora_scale", 4.0)),
        # mtl-engine's method defaults (MethodOptions.defaults): MTLoRA's task rank 4, TS-blocks in
        # every stage, and MTLoRA's regularisation, LoRA dropout 0.05 and drop path 0.2.
        task_rank=int(config.get("task_rank", 4)),
        split_stages={int(s) - 1 for s in str(config.get("task_specific_stages", "4,3,2,1")).split(",")},
        lora_dropout=float(config.get("lora_dropout", 0.05 if method == "mtlora" else 0)),
        drop_path_rate=float(config.get("drop_path_rate", 0.2 if method == "mtlora" else 0)))
    return settings


# ---------------------------------------------------------------------------------------------
# Data: the export's PASCAL-Context layout


def read_png(path):
    """A non-interlaced 8- or 16-bit grey / RGB PNG as an integer array [H, W] or [H, W, C].
    PIL reads 16-bit RGB as 8 bits, so the images and normals of the export are decoded here."""
    import numpy as np
    with open(path, "rb") as handle:
        data = handle.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise sweep_engine.BadInput("data_root", f"{path}: not a PNG file")
    position, idat, header = 8, [], None
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        position += 12 + length
    width, height, depth, colour, _, _, interlace = header
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(colour)
    if channels is None or depth not in (8, 16) or interlace:
        raise sweep_engine.BadInput("data_root", f"{path}: expected a non-interlaced 8/16-bit grey or RGB PNG")
    bpp = channels * depth // 8
    stride = width * bpp
    raw = zlib.decompress(b"".join(idat))
    rows = np.zeros((height, stride), dtype=np.int32)
    previous = np.zeros(stride, dtype=np.int32)
    for y in range(height):
        line = raw[y * (stride + 1):(y + 1) * (stride + 1)]
        kind, row = line[0], np.frombuffer(line[1:], dtype=np.uint8).astype(np.int32)
        if kind == 0:
            out = row
        elif kind == 2:
            out = (row + previous) & 255
        else:
            out = row.tolist()
            up = previous.tolist()
            for i in range(stride):
                left = out[i - bpp] if i >= bpp else 0
                if kind == 1:
                    predictor = left
                elif kind == 3:
                    predictor = (left + up[i]) >> 1
                else:
                    upper_left = up[i - bpp] if i >= bpp else 0
                    p = left + up[i] - upper_left
                    pa, pb, pc = abs(p - left), abs(p - up[i]), abs(p - upper_left)
                    predictor = left if pa <= pb and pa <= pc else (up[i] if pb <= pc else upper_left)
                out[i] = (out[i] + predictor) & 255
            out = np.array(out, dtype=np.int32)
        rows[y] = out
        previous = out
    values = rows.astype(np.uint8)
    if depth == 16:
        values = values.reshape(height, width * channels, 2)
        values = (values[..., 0].astype(np.uint16) << 8) | values[..., 1]
    return values.reshape(height, width, channels) if channels > 1 else values.reshape(height, width)


class ExportedSplit:
    """One split of the export, loaded whole: images [N, 3, H, W] in [0, 1] and the labels in
    mtl-engine's layouts (class maps with 255 = ignore, unit normals with zero = no label), read as
    Sources/Engine/Data/Real/PascalContextDataset.swift reads them."""

    def __init__(self, root, split, count, tasks, size):
        import numpy as np
        with open(os.path.join(root, "ImageSets", "Context", f"{split}.txt")) as handle:
            ids = [line.strip() for line in handle if line.strip()]
        if len(ids) < count:
            raise sweep_engine.BadInput("data_root", f"{root} lists {len(ids)} {split} images, the run needs {count}")
        ids = ids[:count]
        self.count, self.tasks = count, tasks
        self.images = np.zeros((count, 3, size, size), dtype=np.float32)
        self.labels = {t: np.zeros((count, 3, size, size) if t == "normals" else (count, size, size),
                                   dtype=np.float32 if t == "normals" else np.uint8) for t in tasks}
        for n, image_id in enumerate(ids):
            image = read_png(os.path.join(root, "JPEGImages", image_id + ".png"))
            if image.shape[:2] != (size, size):
                raise sweep_engine.BadInput("image_size", f"the export holds {image.shape[1]}x{image.shape[0]} images, "
                                            f"the run wants {size}")
            scale = 65535.0 if image.dtype == np.uint16 else 255.0
            self.images[n] = image.transpose(2, 0, 1).astype(np.float32) / np.float32(scale)
            for task in tasks:
                if task == "semseg":
                    self.labels[task][n] = read_png(os.path.join(root, "semseg", "VOC12", image_id + ".png"))
                elif task == "human_parts":
                    path = os.path.join(root, "human_parts", image_id + ".png")
                    parts = read_png(path) if os.path.isfile(path) else None
                    self.labels[task][n] = IGNORE if parts is None or not parts.any() else parts
                elif task == "saliency":
                    self.labels[task][n] = read_png(os.path.join(root, "sal_distill", image_id + ".png")) > 127
                elif task == "normals":
                    raw = read_png(os.path.join(root, "normals_distill", image_id + ".png"))
                    vectors = 2 * raw.transpose(2, 0, 1).astype(np.float32) / np.float32(65535 if raw.dtype == np.uint16 else 255) - 1
                    norm = np.sqrt((vectors ** 2).sum(0, keepdims=True))
                    self.labels[task][n] = np.where(norm > 1e-3, vectors / np.maximum(norm, 1e-12), 0)


def augment(image, labels, rng):
    """Augmentation.swift's transform: output pixel p comes from c + R(-theta)(p - c) / s, mirrored
    when flipping; bilinear image (outside: the image mean), nearest labels (outside: no label),
    normals turned with the image."""
    import numpy as np
    flip = rng.random() < 0.5
    scale = np.float32(rng.uniform(0.75, 1.25))
    radians = np.float32(rng.uniform(-20, 20) * math.pi / 180)
    _, height, width = image.shape
    cx, cy = np.float32((width - 1) / 2), np.float32((height - 1) / 2)
    cosine, sine = np.cos(radians), np.sin(radians)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    dx, dy = xs - cx, ys - cy
    sx = cx + (cosine * dx + sine * dy) / scale
    sy = cy + (-sine * dx + cosine * dy) / scale
    if flip:
        sx = np.float32(width - 1) - sx
    inside = (sx > -1) & (sy > -1) & (sx < width) & (sy < height)
    x0, y0 = np.floor(sx), np.floor(sy)
    fx, fy = sx - x0, sy - y0
    xa, xb = np.clip(x0, 0, width - 1).astype(int), np.clip(x0 + 1, 0, width - 1).astype(int)
    ya, yb = np.clip(y0, 0, height - 1).astype(int), np.clip(y0 + 1, 0, height - 1).astype(int)
    top = image[:, ya, xa] * (1 - fx) + image[:, ya, xb] * fx
    bottom = image[:, yb, xa] * (1 - fx) + image[:, yb, xb] * fx
    out_image = np.where(inside, top * (1 - fy) + bottom * fy, np.array(MEAN, dtype=np.float32)[:, None, None])
    # Swift's rounded(): half away from zero.
    nx = (np.sign(sx) * np.floor(np.abs(sx) + 0.5)).astype(int)
    ny = (np.sign(sy) * np.floor(np.abs(sy) + 0.5)).astype(int)
    valid = (nx >= 0) & (ny >= 0) & (nx < width) & (ny < height)
    nxc, nyc = np.clip(nx, 0, width - 1), np.clip(ny, 0, height - 1)
    out_labels = {}
    for task, label in labels.items():
        if task == "normals":
            n = label[:, nyc, nxc]
            vx, vy, vz = (-n[0] if flip else n[0]), n[1], n[2]
            ix = cosine * vx - sine * (-vy)
            iy = sine * vx + cosine * (-vy)
            out_labels[task] = np.where(valid, np.stack([ix, -iy, vz]), 0).astype(np.float32)
        else:
            out_labels[task] = np.where(valid, label[nyc, nxc], IGNORE).astype(np.uint8)
    return out_image.astype(np.float32), out_labels


def normalise(images):
    import numpy as np
    return (images - np.array(MEAN, dtype=np.float32)[:, None, None]) / np.array(STD, dtype=np.float32)[:, None, None]


# ---------------------------------------------------------------------------------------------
# Losses and metrics (Sources/Tensors/Losses.swift, Sources/Engine/Tasks/Metrics.swift)


def task_loss(task, output, label):
    import torch
    import torch.nn.functional as F
    if task in ("semseg", "human_parts"):
        label = label.long()
        if not (label != IGNORE).any():
            return output.sum() * 0
        return F.cross_entropy(output, label, ignore_index=IGNORE)
    if task == "saliency":
        labelled = label != IGNORE
        if not labelled.any():
            return output.sum() * 0
        x, y = output[:, 0][labelled], label[labelled].float()
        w = (1 - y).sum() / y.numel()  # w = N_neg / N: positives weighted w, negatives 1 - w
        return -(w * y * F.logsigmoid(x) + (1 - w) * (1 - y) * F.logsigmoid(-x)).mean()
    if task == "normals":
        valid = (label != 0).any(dim=1, keepdim=True).expand_as(label)
        if not valid.any():
            return output.sum() * 0
        return (F.normalize(output, dim=1) - label).abs()[valid].mean()
    raise ValueError(task)


class Evaluation:
    def __init__(self, tasks, outputs):
        import numpy as np
        self.tasks = tasks
        self.confusion = {t: np.zeros((outputs[t], outputs[t]), dtype=np.int64) for t in tasks
                          if t in ("semseg", "human_parts")}
        self.thresholds = [0.2 + 0.7 * k / 14 for k in range(15)]
        self.saliency_sums, self.saliency_images = np.zeros(15), 0
        self.angle_sum, self.angle_pixels = 0.0, 0

    def add(self, predictions, labels):
        import numpy as np
        import torch
        for task in self.tasks:
            output, label = predictions[task], labels[task]
            if task in self.confusion:
                k = output.shape[1]
                predicted = output.argmax(1).numpy().ravel()
                target = label.numpy().ravel()
                keep = target != IGNORE
                self.confusion[task] += np.bincount(target[keep].astype(np.int64) * k + predicted[keep],
                                                    minlength=k * k).reshape(k, k)
            elif task == "saliency":
                probability = torch.sigmoid(output[:, 0]).numpy()
                target = label.numpy()
                for b in range(target.shape[0]):
                    keep = target[b] != IGNORE
                    actual = target[b][keep] == 1
                    for t, threshold in enumerate(self.thresholds):
                        predicted = probability[b][keep] > threshold
                        union = (predicted | actual).sum()
                        self.saliency_sums[t] += 1 if union == 0 else (predicted & actual).sum() / union
                    self.saliency_images += 1
            elif task == "normals":
                p, t = output.double(), label.double()
                valid = (t != 0).any(dim=1)
                norm = p.norm(dim=1)
                cosine = torch.where(norm == 0, torch.zeros_like(norm), (p * t).sum(1) / (norm * t.norm(dim=1)))
                angles = torch.rad2deg(torch.acos(cosine.clamp(-1, 1)))[valid]
                self.angle_sum += angles.sum().item()
                self.angle_pixels += angles.numel()

    def results(self):
        import numpy as np
        values, extra = {}, {}
        for task, counts in self.confusion.items():
            true_positive = np.diag(counts)
            union = counts.sum(0) + counts.sum(1) - true_positive
            present = union > 0  # classes absent from both predictions and labels are left out
            values[task] = 100 * float((true_positive[present] / union[present]).mean()) if present.any() else 0.0
            extra[f"{task}_pixel_accuracy"] = 100 * float(true_positive.sum() / max(1, counts.sum()))
        if "saliency" in self.tasks:
            values["saliency"] = float(100 * (self.saliency_sums / max(1, self.saliency_images)).max())
        if "normals" in self.tasks:
            values["normals"] = self.angle_sum / max(1, self.angle_pixels)
        return values, extra


# ---------------------------------------------------------------------------------------------
# Training


def learning_rate(step, peak, minimum, warmup, total):
    """WarmupCosineSchedule (Sources/Engine/Training/AdamW.swift), 0-based step."""
    warmup = min(warmup, total)
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return minimum + 0.5 * (peak - minimum) * (1 + math.cos(math.pi * progress))


def is_other(name):
    """MTLoRA's "others" (BackboneAdaptation.isOther): patch embedding, LayerNorms, relative
    position bias tables, patch-merging reductions."""
    return (name.startswith(("patch_embed.", "norm.")) or ".norm" in name
            or name.endswith("relative_position_bias_table") or ".downsample.reduction." in name)


def low_rank_layers():
    """The adapter layers (docs/methods.md, "Adapters"), built on first use so that `--check` and
    `--version` need no torch."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class LowRank(nn.Module):
        """s B A drop(x): A Kaiming-uniform (a = sqrt 5, bound 1/sqrt(in)), B = 0, s the raw scale
        (MTLoRA's convention), LoRA dropout on the module's own input."""

        def __init__(self, inputs, outputs, rank, scale, dropout):
            super().__init__()
            self.scale = scale
            self.lora_A = nn.Parameter(torch.empty(rank, inputs))
            nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
            self.lora_B = nn.Parameter(torch.zeros(outputs, rank))
            self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

        def forward(self, x):
            return self.scale * F.linear(F.linear(self.dropout(x), self.lora_A), self.lora_B)

    class AdaptedLinear(nn.Module):
        """A frozen linear with one module: y = W x + b + s B A drop(x)."""

        def __init__(self, base, module):
            super().__init__()
            self.base, self.lora = base, module

        def forward(self, x):
            return self.base(x) + self.lora(x)

    class TaskStreamLinear(nn.Module):
        """MTLoRA's 'matrix' mode (AdaptedLinear.swift): y_shared = W x + b + shared(x) and, for
        each task, y_t = W x + b + task_t(x_t), the frozen path on the shared input; x_t = x where
        no task stream exists yet. Called as a plain layer it runs the shared stream, or, while
        `deferred`, passes its input through (the block applies it per stream afterwards)."""

        def __init__(self, base, shared, tasks):
            super().__init__()
            self.base, self.lora, self.tasks = base, shared, nn.ModuleDict(tasks)
            self.deferred = False

        def forward(self, x):
            return x if self.deferred else self.base(x) + self.lora(x)

        def streams(self, x, task_inputs=None):
            frozen = self.base(x)
            return frozen + self.lora(x), [frozen + module(x if task_inputs is None else task_inputs[n])
                                           for n, module in enumerate(self.tasks.values())]

    return LowRank, AdaptedLinear, TaskStreamLinear


def adapter_places(settings):
    return [("attn", "qkv"), ("attn", "proj")] + ([("mlp", "fc1"), ("mlp", "fc2")]
                                                 if settings["adapter_locations"] == "attn_mlp" else [])


def add_low_rank(backbone, settings):
    """LoRA (METHODS.md) on qkv and proj (attn), and fc1 and fc2 (mlp), of every block: one module
    per layer for method lora; for mtlora a shared module (rank `rank`) everywhere and, in the
    last block of every stage of `task_specific_stages`, one module per task (rank `task_rank`)
    on proj, fc1 and fc2 (never qkv), as Methods/BackboneAdaptation.swift lays them out. The
    backbone is frozen except the "others" when others_trainable."""
    LowRank, AdaptedLinear, TaskStreamLinear = low_rank_layers()
    for name, parameter in backbone.named_parameters():
        parameter.requires_grad_(settings["others_trainable"] and is_other(name))

    def module(base, rank):
        return LowRank(base.in_features, base.out_features, rank, settings["lora_scale"], settings["lora_dropout"])

    for index, layer in enumerate(backbone.layers):
        for j, block in enumerate(layer.blocks):
            split = settings["method"] == "mtlora" and index in settings["split_stages"] and j == len(layer.blocks) - 1
            for place, name in adapter_places(settings):
                parent = getattr(block, place)
                base = getattr(parent, name)
                if split and name != "qkv":
                    adapted = TaskStreamLinear(base, module(base, settings["rank"]),
                                               {t: module(base, settings["task_rank"]) for t in settings["tasks"]})
                else:
                    adapted = AdaptedLinear(base, module(base, settings["rank"]))
                setattr(parent, name, adapted)


def split_block(block, x):
    """MTLoRA's task-specific block (Backbones/TaskStreamBlock.swift) on timm's SwinTransformerBlock:
    the window attention up to its projection runs once on the shared stream; from the projection
    on, one stream per task beside the shared one, each with the shared block input as residual
    and its own drop-path masks; norm2 and GELU serve every stream; the frozen paths of proj, fc1
    and fc2 see the shared stream, each task module its task's. Returns (shared, [task streams])."""
    proj, fc1, fc2 = block.attn.proj, block.mlp.fc1, block.mlp.fc2
    proj.deferred = True
    try:
        attended = block._attn(block.norm1(x))  # proj is token-wise: deferring it commutes with the windows
    finally:
        proj.deferred = False
    shared, tasks = proj.streams(attended)
    after_attention = [x + block.drop_path1(branch) for branch in [shared] + tasks]
    normalized = [block.norm2(stream) for stream in after_attention]
    shared, tasks = fc1.streams(normalized[0], normalized[1:])
    hidden = [block.mlp.drop1(block.mlp.act(h)) for h in [shared] + tasks]
    shared, tasks = fc2.streams(hidden[0], hidden[1:])
    outputs = [stream + block.drop_path2(branch) for stream, branch in zip(after_attention, [shared] + tasks)]
    return outputs[0], outputs[1:]


def task_stage_features(model, x, split_stages, tasks):
    """Each task's four decoder features in MTLoRA's layout (Backbones/BackboneStreams.swift): the
    task streams of a split stage pass through the next stage's patch merging (the same layer for
    every stream) into their decoder; the last stage's task streams are its level-4 features; a
    stage without task modules gives every task the shared features. NHWC -> NCHW."""
    backbone = model.backbone
    x = backbone.patch_embed(x)
    features = {t: [] for t in tasks}
    streams = None
    for index, layer in enumerate(backbone.layers):
        x = layer.downsample(x)
        if index > 0:
            for n, t in enumerate(tasks):
                features[t].append(layer.downsample(streams[n]) if streams is not None else x)
        streams = None
        for j, block in enumerate(layer.blocks):
            if index in split_stages and j == len(layer.blocks) - 1:
                x, streams = split_block(block, x)
            else:
                x = block(x)
    for n, t in enumerate(tasks):
        features[t].append(streams[n] if streams is not None else x)
    return {t: [f.permute(0, 3, 1, 2) for f in maps] for t, maps in features.items()}


def predict(model, x, settings):
    if settings["method"] != "mtlora":
        return model(x)
    features = task_stage_features(model, x, settings["split_stages"], settings["tasks"])
    return {t: model.heads[t](features[t], x.shape[-2:]) for t in settings["tasks"]}


def build(settings, train, outputs):
    import numpy as np
    import torch
    from safetensors.torch import load_file
    from torch_reference import MultiTaskSwin

    torch.manual_seed(settings["seed"])
    shape = dict(BACKBONES[settings["backbone"]], image=settings["image_size"])
    model = MultiTaskSwin(shape, outputs=outputs, drop_path_rate=settings["drop_path_rate"])
    if settings["weights"]:
        state = load_file(settings["weights"])
        missing, unexpected = model.backbone.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.endswith(("relative_position_index", "attn_mask"))]
        unexpected = [k for k in unexpected if not k.startswith("head.")]
        if missing or unexpected:
            raise sweep_engine.BadInput("backbone_weights", f"{settings['weights']} does not fit the backbone: "
                                        f"missing {missing[:3]}, unexpected {unexpected[:3]}")
    if settings["method"] in ("lora", "mtlora"):
        add_low_rank(model.backbone, settings)
    # Class-prior biases (DenseObjective): log class frequency over the first 256 training images,
    # one pseudo-count per class.
    for task in settings["tasks"]:
        if task in ("semseg", "human_parts"):
            k = outputs[task]
            labels = train.labels[task][:256].ravel()
            counts = np.bincount(labels[labels < k], minlength=k)[:k] + 1.0
            with torch.no_grad():
                model.heads[task].classify.bias.copy_(torch.from_numpy(np.log(counts / counts.sum())).float())
    groups = {}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        decoder = name.startswith("heads.")
        decays = parameter.dim() > 1 and not name.endswith("relative_position_bias_table")
        groups.setdefault((decoder, decays), []).append(parameter)
    optimizer = torch.optim.AdamW(
        [{"params": params, "weight_decay": settings["weight_decay"] if decays else 0.0,
          "lr_scale": settings["decoder_lr_scale"] if decoder else 1.0}
         for (decoder, decays), params in sorted(groups.items())],
        lr=settings["lr"], betas=(0.9, 0.999), eps=1e-8)
    return model, optimizer


def train_run(run):
    import numpy as np
    import torch

    settings = resolve(run.config)
    torch.set_num_threads(run.threads)
    tasks, size = settings["tasks"], settings["image_size"]
    with open(os.path.join(settings["data_root"], "synthetic.json")) as handle:
        exported = json.load(handle)
    if exported.get("size") != size:
        raise sweep_engine.BadInput("image_size", f"the export is at {exported.get('size')} px, the run wants {size}")
    outputs = {"semseg": len(exported["classes"]["semseg"]), "human_parts": len(exported["classes"]["human_parts"]),
               "saliency": 1, "normals": 3}
    train = ExportedSplit(settings["data_root"], "train", settings["train_images"], tasks, size)
    validation = ExportedSplit(settings["data_root"], "val", settings["val_images"], tasks, size)
    model, optimizer = build(settings, train, {t: outputs[t] for t in tasks})
    batch, epochs = settings["batch_size"], settings["epochs"]
    steps = max(1, train.count // batch)
    warmup = int(round(settings["warmup_epochs"] * steps))

    first = 0
    latest = run.latest_checkpoint()
    if latest:
        state = torch.load(latest.path, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if "torch_rng" in state:  # LoRA dropout's and drop path's masks go on as if not interrupted
            torch.set_rng_state(state["torch_rng"])
        first = latest.epoch

    trainable = [p for p in model.parameters() if p.requires_grad]
    for epoch in range(first, epochs):
        model.train()
        # Batch order and augmentation: functions of (seed, epoch), so a resumed run repeats them.
        rng = np.random.default_rng([settings["seed"], epoch])
        order = rng.permutation(train.count)
        loss_sum = 0.0
        for step in range(steps):
            if run.stop_requested:
                run.exit_stopped()
            indices = order[step * batch:(step + 1) * batch]
            images, labels = [], {t: [] for t in tasks}
            for index in indices:
                image, label = augment(train.images[index], {t: train.labels[t][index] for t in tasks}, rng)
                images.append(normalise(image))
                for t in tasks:
                    labels[t].append(label[t])
            x = torch.from_numpy(np.stack(images))
            predictions = predict(model, x, settings)
            loss = sum(settings["loss_weights"][t] * task_loss(t, predictions[t], torch.from_numpy(np.stack(labels[t])))
                       for t in tasks)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if settings["clip_grad"] > 0:
                torch.nn.utils.clip_grad_norm_(trainable, settings["clip_grad"])
            rate = learning_rate(epoch * steps + step, settings["lr"], settings["min_lr"], warmup, epochs * steps)
            for group in optimizer.param_groups:
                group["lr"] = rate * group["lr_scale"]
            optimizer.step()
            loss_sum += loss.item()
            if settings["progress_every"] and (step + 1) % settings["progress_every"] == 0 and step + 1 < steps:
                run.progress(epoch=epoch, epochs=epochs, step=step + 1, steps=steps, loss=loss.item(), phase="train")
        run.save_checkpoint(epoch + 1, lambda path: torch.save(
            {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state()}, path))
        run.progress(epoch=epoch + 1, epochs=epochs, step=steps, steps=steps, loss=loss_sum / steps, phase="train")

    model.eval()
    evaluation = Evaluation(tasks, outputs)
    with torch.no_grad():
        for start in range(0, validation.count, batch):
            end = min(validation.count, start + batch)
            x = torch.from_numpy(normalise(validation.images[start:end]))
            evaluation.add(predict(model, x, settings), {t: torch.from_numpy(validation.labels[t][start:end]) for t in tasks})
    values, extra = evaluation.results()
    decoder = sum(p.numel() for n, p in model.named_parameters() if n.startswith("heads."))
    # As mtl-engine counts: adapters are neither backbone nor decoder, but part of the total.
    backbone = sum(p.numel() for n, p in model.named_parameters() if n.startswith("backbone.") and ".lora_" not in n)
    adapters = sum(p.numel() for n, p in model.named_parameters() if ".lora_" in n)
    import timm
    run.write_metrics(
        tasks={t: sweep_engine.metric(METRIC_NAMES[t], values[t], DIRECTIONS[t]) for t in tasks},
        parameters={"trainable": sum(p.numel() for p in trainable), "total": decoder + backbone + adapters,
                    "decoder": decoder, "backbone": backbone},
        gmacs=forward_gmacs(model, size, settings), extra=extra,
        engine_version=f"{VERSION} (torch {torch.__version__}, timm {timm.__version__})")


def forward_gmacs(model, size, settings):
    """Multiply-accumulates of a 1-image forward pass, from torch's FLOP counter (matmuls and
    convolutions only: norms, activations and resizing, which mtl-engine also counts, are not)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        predict(model, torch.zeros(1, 3, size, size), settings)
    return counter.get_total_flops() / 2 / 1e9


def check(config):
    resolve(config)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--check"]:
        sweep_engine.validate_main(check, sys.argv[2:])
    sweep_engine.main(train_run, version=VERSION)
