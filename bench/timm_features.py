"""Writes a timm Swin's or PVT-v2's weights and its features on one input, for `mtl-engine check-timm`.

    python bench/timm_features.py --model swin_tiny_patch4_window7_224 --out /tmp/swin_t
    mtl-engine check-timm --weights /tmp/swin_t/weights.safetensors --reference /tmp/swin_t/reference.safetensors
    python bench/timm_features.py --model pvt_v2_b0 --out /tmp/pvt_v2_b0
    mtl-engine check-timm --weights /tmp/pvt_v2_b0/weights.safetensors --reference /tmp/pvt_v2_b0/reference.safetensors

With --pretrained the real ImageNet weights are downloaded by timm; without, timm's own
random initialisation (seeded) is used, which checks the same arithmetic. The reference holds
the input (`input`, NCHW) and the features the engine's decoders see: each stage's output after
the next stage's patch merging, and the last stage's output (`feature.0` ... `feature.3`, NHWC),
plus `norm_pooled`, the final LayerNorm averaged over tokens. For PVT-v2 the features are the four
stages' outputs (after each stage's norm, NHWC) and `norm_pooled` the last one averaged.
Not part of the product: torch and timm come from pip for this manual check only.
"""
import argparse
import os

import timm
import torch
from safetensors.torch import save_file


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="swin_tiny_patch4_window7_224")
    parser.add_argument("--out", required=True)
    parser.add_argument("--pretrained", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=0, help="input side (default: the model's)")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    model = timm.create_model(args.model, pretrained=args.pretrained).eval()
    if not args.pretrained:
        # timm initialises norms to 1 / 0 and biases to 0; perturb them so every parameter matters.
        with torch.no_grad():
            for name, p in model.named_parameters():
                if p.dim() == 1:
                    p.add_(0.1 * torch.randn_like(p))
    os.makedirs(args.out, exist_ok=True)
    weights = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(weights, os.path.join(args.out, "weights.safetensors"), metadata={"format": "pt", "timm": timm.__version__})

    size = args.size or model.pretrained_cfg["input_size"][1]
    image = torch.randn(1, 3, size, size)
    with torch.no_grad():
        x = model.patch_embed(image)
        outputs = []
        if hasattr(model, "layers"):  # Swin
            for layer in model.layers:
                x = layer.downsample(x)
                if outputs:
                    outputs[-1] = x
                x = layer.blocks(x)
                outputs.append(x)
            pooled = model.norm(x).mean(dim=(1, 2))
        else:  # PVT-v2: stages take and give NCHW (the first takes the stem's NHWC)
            for stage in model.stages:
                x = stage(x)
                outputs.append(x.permute(0, 2, 3, 1))
            pooled = x.mean(dim=(2, 3))
    reference = {"input": image.contiguous(), "norm_pooled": pooled.contiguous()}
    for i, feature in enumerate(outputs):
        reference[f"feature.{i}"] = feature.contiguous()
    save_file(reference, os.path.join(args.out, "reference.safetensors"),
              metadata={"model": args.model, "timm": timm.__version__, "torch": torch.__version__})
    print({k: tuple(v.shape) for k, v in reference.items()})


if __name__ == "__main__":
    main()
