#!/usr/bin/env python3
"""MTLoRA's public code (github.com/scale-lab/MTLoRA) as a `sweep` engine, through
python/sweep_engine.py. A worked example: docs/mtlora-engine.md says what was verified.

Their main.py cannot be the engine as it is: it calls `model.cuda()`, `torch.cuda.set_device` and
an NCCL process group unconditionally, and its epoch loop starts at 0 even after a resume (it
sets TRAIN.START_EPOCH and never reads it). So this wrapper builds everything from their modules
(config, data loaders, model, MTLoRA layers, optimizer, scheduler, losses, evaluation) and runs
its own loop with the helper's progress lines, checkpoints, SIGTERM flag and metrics.json.

    MTLORA_ROOT=/path/to/MTLoRA python3 mtlora_engine.py --config RUN_DIR/config.json --out RUN_DIR
    MTLORA_ROOT=/path/to/MTLoRA python3 mtlora_engine.py --version

Config keys (the run's config.json):
  mtlora_config     their YAML, relative to MTLORA_ROOT (configs/mtlora/tiny_448/....yaml)   required
  data_root         the PASCAL-Context folder their loader reads (their --pascal)           required
  backbone_weights  Swin weights for the backbone (their --resume-backbone)                 required
  tasks             e.g. [semseg, human_parts, saliency, normals] (saliency is their `sal`)
  epochs, batch_size, seed, num_workers
  opts              more of their config as [KEY, VALUE, ...] (their --opts)
"""
import argparse
import importlib.metadata
import os
import random
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", ".."))  # python/, for sweep_engine
import sweep_engine  # noqa: E402

# Our task names -> theirs, and the headline metric of each in the papers' units: their
# evaluation returns IoUs as fractions (printed x100); their normals "rmse" sums |angle| per
# pixel, i.e. the mean angular error in degrees, which MTLoRA's tables report as rmse.
TASKS = {"semseg": "semseg", "human_parts": "human_parts", "saliency": "sal", "normals": "normals"}
HEADLINE = {"semseg": ("mIoU", 100.0, "higher"), "human_parts": ("mIoU", 100.0, "higher"),
            "sal": ("mIoU", 100.0, "higher"), "normals": ("rmse", 1.0, "lower")}
# main.py's weights of the task losses (the same table in main() and validate()).
LOSS_WEIGHTS = {"depth": 1.0, "semseg": 1.0, "human_parts": 2.0, "sal": 5.0, "edge": 50.0, "normals": 10.0}


def mtlora_root():
    root = os.environ.get("MTLORA_ROOT")
    if not root or not os.path.isfile(os.path.join(root, "main.py")):
        raise sweep_engine.BadInput(f"set MTLORA_ROOT to a checkout of github.com/scale-lab/MTLoRA (got {root!r})")
    return os.path.abspath(root)


def version():
    """The wrapper's version, the commit of their code and the torch it runs on: all part of the runs' ids."""
    root = os.environ.get("MTLORA_ROOT", "")
    try:
        commit = subprocess.run(["git", "-C", root, "rev-parse", "--short=12", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    try:
        torch_version = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        torch_version = "none"
    return f"mtlora-engine 1 (MTLoRA {commit}, torch {torch_version})"


def check(cfg):
    for key in ("mtlora_config", "data_root", "backbone_weights"):
        if not isinstance(cfg.get(key), str):
            raise sweep_engine.BadInput(key, "required: a path (docs/mtlora-engine.md)")
    for task in cfg.get("tasks", list(TASKS)):
        if task not in TASKS:
            raise sweep_engine.BadInput("tasks", f"unknown task {task!r}; expected some of {', '.join(TASKS)}")
    for key in ("epochs", "batch_size"):
        if key in cfg and not (isinstance(cfg[key], int) and cfg[key] >= 1):
            raise sweep_engine.BadInput(key, f"expected an integer >= 1, got {cfg[key]!r}")


def their_config(run, root):
    """Their yacs config, built by their own `get_config` from the arguments main.py would get."""
    from config import get_config
    cfg = run.config
    theirs = [TASKS[t] for t in cfg.get("tasks", list(TASKS))]
    opts = ["SEED", str(cfg.get("seed", 0)), "DATA.NUM_WORKERS", str(cfg.get("num_workers", 0))]
    opts += [str(item) for item in cfg.get("opts", [])]
    args = argparse.Namespace(
        cfg=os.path.join(root, cfg["mtlora_config"]), opts=opts, batch_size=cfg.get("batch_size"),
        epochs=cfg.get("epochs"), pascal=cfg["data_root"], tasks=",".join(theirs),
        resume_backbone=cfg["backbone_weights"], disable_amp=True, disable_wandb=True,
        output=run.path("mtlora"), local_rank=0, skip_initial_validation=True)
    return get_config(args)


def train(run):
    check(run.config)
    root = mtlora_root()
    sys.path.insert(0, root)
    os.chdir(root)  # their data code reads data/db_info/... relative to the checkout
    import numpy as np
    import torch
    import torch.distributed as dist
    from data import build_loader
    from evaluation.evaluate_utils import PerformanceMeter, get_output
    from logger import create_logger
    from lr_scheduler import build_scheduler
    from models import build_model, build_mtl_model
    from models.lora import mark_only_lora_as_trainable
    from mtl_loss_schemes import MultiTaskLoss, get_loss
    from optimizer import build_optimizer
    from utils import NativeScalerWithGradNormCount, load_checkpoint

    torch.set_num_threads(run.threads)
    config = their_config(run, root)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    # Their loaders ask torch.distributed for the rank: a one-process group, gloo on CPU.
    store = run.path("dist-store")
    if os.path.exists(store):
        os.remove(store)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", init_method=f"file://{store}",
                            rank=0, world_size=1)
    os.makedirs(config.OUTPUT, exist_ok=True)
    logger = create_logger(output_dir=config.OUTPUT, dist_rank=0, name=config.MODEL.NAME)
    torch.manual_seed(config.SEED)
    np.random.seed(config.SEED)
    random.seed(config.SEED)

    _, _, train_loader, val_loader, _ = build_loader(config)
    # main.py's order: the model on its device, the optimizer and scheduler over every parameter,
    # the backbone's weights, then all but the LoRA parameters frozen.
    model = build_mtl_model(build_model(config), config).to(device)
    optimizer = build_optimizer(config, model)
    steps = len(train_loader)
    scheduler = build_scheduler(config, optimizer, steps)
    load_checkpoint(config, model.backbone, optimizer, scheduler, NativeScalerWithGradNormCount(), logger, backbone=True)
    if config.MODEL.MTLORA.ENABLED and config.MODEL.MTLORA.FREEZE_PRETRAINED:
        mark_only_lora_as_trainable(
            model.backbone, bias=config.MODEL.MTLORA.BIAS, freeze_patch_embed=config.TRAIN.FREEZE_PATCH_EMBED,
            freeze_norm=config.TRAIN.FREEZE_LAYER_NORM,
            free_relative_bias=config.TRAIN.FREEZE_RELATIVE_POSITION_BIAS,
            freeze_downsample_reduction=True if config.MODEL.MTLORA.DOWNSAMPLER_ENABLED
            else config.TRAIN.FREEZE_DOWNSAMPLE_REDUCTION)
    tasks = list(config.TASKS)
    criterion = MultiTaskLoss(tasks, torch.nn.ModuleDict(
        {t: get_loss(config["TASKS_CONFIG"], t, config) for t in tasks}), {t: LOSS_WEIGHTS[t] for t in tasks})

    first = 0
    latest = run.latest_checkpoint()
    if latest:
        state = torch.load(latest.path, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        np.random.set_state(state["numpy_rng"])
        random.setstate(state["python_rng"])
        first = latest.epoch
        print(f"mtlora_engine: resuming after epoch {first} from {latest.path}", flush=True)

    epochs = config.TRAIN.EPOCHS
    for epoch in range(first, epochs):
        model.train()
        # As main.py for multi-task runs: the sampler's epoch is never set, so every epoch sees the
        # same order.
        for step, batch in enumerate(train_loader):
            if run.stop_requested:
                run.exit_stopped()
            images = batch["image"].to(device)
            targets = {t: batch[t].to(device) for t in tasks}
            loss, _ = criterion(model(images), targets)
            optimizer.zero_grad()
            loss.backward()
            if config.TRAIN.CLIP_GRAD:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.TRAIN.CLIP_GRAD)
            optimizer.step()
            scheduler.step_update(epoch * steps + step)
            run.progress(epoch=epoch + 1, epochs=epochs, step=step + 1, steps=steps, loss=loss.item(), phase="train")
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                 "scheduler": scheduler.state_dict(), "torch_rng": torch.get_rng_state(),
                 "numpy_rng": np.random.get_state(), "python_rng": random.getstate()}
        run.save_checkpoint(epoch + 1, lambda path: torch.save(state, path), suffix=".pth")

    model.eval()
    meter = PerformanceMeter(config, config.DATA.DBNAME)
    with torch.no_grad():
        for batch in val_loader:
            output = model(batch["image"].to(device))
            meter.update({t: get_output(output[t], t) for t in tasks}, {t: batch[t].to(device) for t in tasks})
    scores = meter.get_score(verbose=True)

    ours = {theirs: mine for mine, theirs in TASKS.items()}
    metrics = {}
    for task in tasks:
        name, scale, direction = HEADLINE[task]
        metrics[ours[task]] = sweep_engine.metric(name, scale * float(scores[task][name]), direction)
    parameters = dict(model.named_parameters())
    trainable = sum(p.numel() for p in parameters.values() if p.requires_grad)
    total = sum(p.numel() for p in parameters.values())
    decoder = sum(p.numel() for name, p in parameters.items() if "backbone" not in name)
    torch.save(model.state_dict(), run.path("model.pth"))
    run.write_metrics(tasks=metrics, gmacs=gmacs(model, config, device),
                      parameters={"trainable": trainable, "total": total, "decoder": decoder,
                                  "backbone": total - decoder},
                      artifacts={"model": "model.pth"},
                      extra={"sal_maxF": 100.0 * float(scores["sal"]["maxF"])} if "sal" in scores else {})


def gmacs(model, config, device):
    """Forward GMACs of one image, with ptflops as main.py counts them."""
    from ptflops import get_model_complexity_info
    macs, _ = get_model_complexity_info(model, (3, config.DATA.IMG_SIZE, config.DATA.IMG_SIZE),
                                        as_strings=False, print_per_layer_stat=False, verbose=False)
    return macs / 1e9


if __name__ == "__main__":
    if sys.argv[1:2] == ["--check"]:
        sweep_engine.validate_main(check, sys.argv[2:])
    sweep_engine.main(train, version=version())
