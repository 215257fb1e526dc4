#!/usr/bin/env python3
"""A toy engine written with python/sweep_engine.py, for the end-to-end tests of the helper (a
test fixture, not a feature): least-squares regression by SGD on seeded random data, with the
helper's checkpoints, SIGTERM flag, progress lines and metrics.json. Standard library only.

    toy_engine.py --config RUN_DIR/config.json --out RUN_DIR
    toy_engine.py --check -          # the config check, configs as JSON lines on stdin
    toy_engine.py --version

Config keys: epochs (default 3), steps (per epoch, default 4), step_seconds (sleep per step,
default 0), lr (default 0.05; must be in (0, 1]: bad input otherwise), fail (a message: the run
raises an error with it after its first epoch), seed.
"""
import json
import random
import sys
import time

import sweep_engine

VERSION = "toy-engine 1"
FEATURES = 4


def check(config):
    lr = config.get("lr", 0.05)
    if not isinstance(lr, (int, float)) or isinstance(lr, bool) or not 0 < lr <= 1:
        raise sweep_engine.BadInput("lr", f"expected a number in (0, 1], got {lr!r}")
    epochs = config.get("epochs", 3)
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise sweep_engine.BadInput("epochs", f"expected an integer >= 1, got {epochs!r}")


def save(state, path):
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(state, handle)


def train(run):
    config = run.config
    check(config)
    epochs, steps = config.get("epochs", 3), config.get("steps", 4)
    lr, pause = float(config.get("lr", 0.05)), float(config.get("step_seconds", 0))
    data = random.Random(1000 + config.get("seed", 0))
    truth = [data.uniform(-1, 1) for _ in range(FEATURES)]

    state = {"weights": [0.0] * FEATURES, "rng": list(random.Random(config.get("seed", 0)).getstate()[1])}
    first = 0
    latest = run.latest_checkpoint()
    if latest:
        with open(latest.path, encoding="utf-8") as handle:
            state = json.load(handle)
        first = latest.epoch
        print(f"toy_engine: resuming after epoch {first} from {latest.path}")
    rng = random.Random()
    rng.setstate((3, tuple(state["rng"]), None))

    for epoch in range(first, epochs):
        for step in range(steps):
            # Checked before each step, not after the last: a SIGTERM during the epoch's last
            # step still lets its checkpoint be saved, so each epoch completes exactly once.
            if run.stop_requested:
                run.exit_stopped()
            x = [rng.uniform(-1, 1) for _ in range(FEATURES)]
            error = sum(w * v for w, v in zip(state["weights"], x)) - sum(t * v for t, v in zip(truth, x))
            state["weights"] = [w - lr * error * v for w, v in zip(state["weights"], x)]
            time.sleep(pause)
            run.progress(epoch=epoch + 1, epochs=epochs, step=step + 1, steps=steps, loss=error * error,
                         phase="train")
        state["rng"] = list(rng.getstate()[1])
        run.save_checkpoint(epoch + 1, lambda path: save(state, path), suffix=".json")
        if config.get("fail"):
            raise RuntimeError(config["fail"])

    distance = sum((w - t) ** 2 for w, t in zip(state["weights"], truth)) ** 0.5
    with open(run.path("weights.json"), "w", encoding="utf-8") as handle:
        json.dump(state["weights"], handle)
    run.write_metrics(
        tasks={"regression": sweep_engine.metric("weight error", distance, "lower")},
        parameters={"trainable": FEATURES, "total": FEATURES, "decoder": 0, "backbone": FEATURES},
        gmacs=FEATURES / 1e9,
        artifacts={"weights": "weights.json"},
        extra={"final_weight_0": state["weights"][0]})


if __name__ == "__main__":
    if sys.argv[1:2] == ["--check"]:
        sweep_engine.validate_main(check, sys.argv[2:])
    sweep_engine.main(train, version=VERSION)
