"""The run contract of `sweep` (docs/run-contract.md) for an engine written in Python.

One file, standard library only: copy it next to your training script or put this folder on
PYTHONPATH. It covers what an engine owes `sweep`:

- reading the run's config.json (`run.config`);
- appending progress.jsonl lines (`run.progress(...)`, `elapsed` filled in);
- checkpoints that survive a kill (`run.save_checkpoint`, `run.latest_checkpoint`);
- a SIGTERM flag the training loop checks (`run.stop_requested`, `run.exit_stopped()`);
- metrics.json written atomically (`run.write_metrics(...)`, `epoch_seconds` filled in);
- exit statuses: 0 with metrics.json, 2 for bad input (`BadInput`), 1 for anything else;
- the optional config check (`validate_main`) and `--version` (the engine's identity).

A training script:

    import sweep_engine

    def main(run):
        cfg = run.config
        epochs = cfg.get("epochs", 10)
        if epochs < 1:
            raise sweep_engine.BadInput("epochs", f"expected an integer >= 1, got {epochs}")
        state, first = new_state(cfg), 0
        latest = run.latest_checkpoint()
        if latest:                                  # a resumed run continues where it stopped
            state, first = load(latest.path), latest.epoch
        for epoch in range(first, epochs):
            for step in range(steps):
                loss = train_step(state)
                run.progress(epoch=epoch + 1, epochs=epochs, step=step + 1, steps=steps, loss=loss)
                if run.stop_requested:              # SIGTERM: the last checkpoint stays usable
                    run.exit_stopped()
            run.save_checkpoint(epoch + 1, lambda path: save(state, path))
        run.write_metrics(tasks={"semseg": sweep_engine.metric("mIoU", 41.2, "higher")},
                          parameters={"trainable": 1, "total": 2, "decoder": 0, "backbone": 1},
                          gmacs=1.9)

    if __name__ == "__main__":
        sweep_engine.main(main, version="my-trainer 1.0")

`sweep` starts it as `./train.py --config RUN_DIR/config.json --out RUN_DIR` inside RUN_DIR (the
manifest's `engine: {command: [./train.py, --config, "{config}", --out, "{out}"]}`, the script
executable with a `#!/usr/bin/env python3` line: a program with a slash is found from the
manifest's folder, but arguments are passed as written, so `[python3, train.py, ...]` would look
for train.py in RUN_DIR).
"""

import json
import os
import signal
import sys
import time
import traceback

__all__ = ["Run", "Checkpoint", "BadInput", "Stopped", "metric", "main", "validate_main"]

CONFIG = "config.json"
PROGRESS = "progress.jsonl"
METRICS = "metrics.json"
CHECKPOINTS = "checkpoints.json"
EXIT_SUCCESS = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_STOPPED = 128 + signal.SIGTERM


class BadInput(Exception):
    """The config (or a data file it names) is wrong: the run exits 2 and `sweep` does not
    retry it in the same invocation. `key` names the config key to blame, when one is."""

    def __init__(self, key, message=None):
        if message is None:
            key, message = None, key
        super().__init__(message)
        self.key = key
        self.message = message

    def __str__(self):
        return f"{self.key}: {self.message}" if self.key else self.message


class Stopped(Exception):
    """Raised by `Run.exit_stopped()`; `main` turns it into exit status 143."""


class Checkpoint:
    """A checkpoint on disk: the number of epochs it holds and its absolute path."""

    def __init__(self, epoch, path):
        self.epoch = epoch
        self.path = path

    def __repr__(self):
        return f"Checkpoint(epoch={self.epoch}, path={self.path!r})"


def metric(name, value, direction):
    """A task's headline metric for `write_metrics`, in the papers' units: direction is
    "higher" (mIoU) or "lower" (mean angle, RMSE)."""
    if direction not in ("higher", "lower"):
        raise ValueError(f"direction must be 'higher' or 'lower', not {direction!r}")
    return {"name": name, "value": float(value), "direction": direction}


def write_atomically(path, data):
    """Writes bytes or text to `path` through a temporary file in the same folder and a rename,
    so a reader (or a resumed run) never sees half a file."""
    folder = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(data.encode("utf-8") if isinstance(data, str) else data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


class Run:
    """One attempt of one run: its directory, its config, its stop flag.

    `Run(config_path, out)` reads the config and, unless `handle_sigterm` is false, installs a
    SIGTERM handler that only sets `stop_requested` (the training loop decides when to stop).
    """

    def __init__(self, config_path, out, handle_sigterm=True, keep_checkpoints=2):
        self.out = os.path.abspath(out)
        self.config_path = os.path.abspath(config_path)
        try:
            with open(self.config_path, encoding="utf-8") as handle:
                self.config = json.load(handle)
        except (OSError, ValueError) as error:
            raise BadInput(f"cannot read the config {self.config_path}: {error}") from None
        if not isinstance(self.config, dict):
            raise BadInput(f"{self.config_path} is not a JSON object")
        self.keep_checkpoints = keep_checkpoints
        self.started = time.monotonic()
        self.stop_requested = False
        self._epoch_started = self.started
        if handle_sigterm:
            signal.signal(signal.SIGTERM, self._on_sigterm)

    def _on_sigterm(self, signum, frame):
        self.stop_requested = True

    @property
    def threads(self):
        """The run's thread budget (MTL_THREADS), 1 when unset: pass it to torch.set_num_threads."""
        return int(os.environ.get("MTL_THREADS", "1"))

    def path(self, name):
        """A file inside the run directory."""
        return os.path.join(self.out, name)

    # progress.jsonl

    def progress(self, epoch, epochs, step, steps, loss, ranks=None, phase=None, gmacs=None, metrics=None):
        """Appends one progress line. `epoch` counts from 1; the line with step == steps is the
        epoch's last (its `metrics`, task name -> headline value, draw training curves)."""
        line = {"epoch": int(epoch), "epochs": int(epochs), "step": int(step), "steps": int(steps),
                "loss": float(loss), "elapsed": round(time.monotonic() - self.started, 4)}
        for key, value in (("ranks", ranks), ("phase", phase), ("gmacs", gmacs), ("metrics", metrics)):
            if value is not None:
                line[key] = value
        with open(self.path(PROGRESS), "a", encoding="utf-8") as handle:
            handle.write(json.dumps(line, sort_keys=True) + "\n")

    # checkpoints

    def _read_checkpoints(self):
        try:
            with open(self.path(CHECKPOINTS), encoding="utf-8") as handle:
                record = json.load(handle)
            return record if isinstance(record, dict) else {}
        except (OSError, ValueError):
            return {}

    def save_checkpoint(self, epoch, write, suffix=".ckpt"):
        """Saves the state after `epoch` finished epochs: `write(path)` writes the file (e.g.
        `lambda p: torch.save(state, p)`) to a temporary name that is renamed into place, then
        checkpoints.json records it with the epoch's wall time. Older checkpoints beyond
        `keep_checkpoints` are removed."""
        name = f"checkpoint-{int(epoch):04d}{suffix}"
        temporary = self.path(f".{name}.{os.getpid()}.tmp")
        write(temporary)
        os.replace(temporary, self.path(name))
        now = time.monotonic()
        record = self._read_checkpoints()
        seconds = record.get("epoch_seconds", [])[: int(epoch) - 1]
        seconds.append(round(now - self._epoch_started, 4))
        self._epoch_started = now
        kept = [entry for entry in record.get("checkpoints", []) if entry.get("epoch", 0) < epoch]
        kept.append({"epoch": int(epoch), "file": name})
        removed, kept = kept[: -self.keep_checkpoints], kept[-self.keep_checkpoints:]
        write_atomically(self.path(CHECKPOINTS),
                         json.dumps({"checkpoints": kept, "epoch_seconds": seconds}, sort_keys=True))
        for entry in removed:
            try:
                os.remove(self.path(entry["file"]))
            except OSError:
                pass

    def latest_checkpoint(self):
        """The newest checkpoint whose file exists, or None for a run starting afresh."""
        for entry in reversed(self._read_checkpoints().get("checkpoints", [])):
            path = self.path(entry.get("file", ""))
            if os.path.isfile(path):
                return Checkpoint(int(entry["epoch"]), path)
        return None

    @property
    def epoch_seconds(self):
        """Wall time of each finished epoch, earlier attempts' included."""
        return list(self._read_checkpoints().get("epoch_seconds", []))

    # stopping

    def exit_stopped(self, message=None):
        """Ends the attempt after SIGTERM (exit status 143): call it from the training loop when
        `stop_requested` is set; the last saved checkpoint is where the next attempt resumes."""
        raise Stopped(message or "stopped by SIGTERM; the next attempt resumes from the last checkpoint")

    # metrics.json

    def write_metrics(self, tasks, parameters, gmacs, engine_version=None, epoch_seconds=None,
                      artifacts=None, extra=None, ranks=None, epoch_gmacs=None):
        """Writes metrics.json atomically: call it last, on success. `tasks` maps task names to
        `metric(...)`; `parameters` has `trainable`, `total`, `decoder` and `backbone`;
        `artifacts` are paths relative to the run directory."""
        for key in ("trainable", "total", "decoder", "backbone"):
            if key not in parameters:
                raise ValueError(f"parameters needs '{key}' (trainable, total, decoder, backbone)")
        document = {
            "engine_version": engine_version or _VERSION[0] or "unknown",
            "tasks": tasks,
            "parameters": {key: int(parameters[key]) for key in ("trainable", "total", "decoder", "backbone")},
            "gmacs": float(gmacs),
            "epoch_seconds": [float(s) for s in (self.epoch_seconds if epoch_seconds is None else epoch_seconds)],
            "artifacts": dict(artifacts or {}),
            "extra": {key: float(value) for key, value in (extra or {}).items()},
        }
        if ranks is not None:
            document["ranks"] = ranks
        if epoch_gmacs is not None:
            document["epoch_gmacs"] = [float(g) for g in epoch_gmacs]
        write_atomically(self.path(METRICS), json.dumps(document, sort_keys=True))


_VERSION = [None]


def _arguments(argv):
    config = out = None
    rest = list(argv)
    while rest:
        flag = rest.pop(0)
        if flag in ("--config", "--out") and rest:
            if flag == "--config":
                config = rest.pop(0)
            else:
                out = rest.pop(0)
        else:
            raise BadInput(f"unknown argument {flag!r}; usage: --config RUN_DIR/config.json --out RUN_DIR")
    if config is None or out is None:
        raise BadInput("usage: --config RUN_DIR/config.json --out RUN_DIR")
    return config, out


def main(train, version=None, argv=None, **options):
    """Runs `train(run)` as an engine and exits with the contract's status: 0 (write_metrics
    must have been called), 2 on `BadInput`, 143 after `exit_stopped()`, 1 on any other error
    (its traceback on stderr, which `sweep` keeps in the ledger).

    `--version` prints `version` and exits 0: name a command that prints it as the manifest's
    `engine: {version: [...]}` and it becomes part of the runs' ids. `options` go to `Run`."""
    argv = sys.argv[1:] if argv is None else argv
    _VERSION[0] = version
    name = os.path.basename(sys.argv[0] or "engine")
    if argv == ["--version"]:
        print(version or "unknown")
        sys.exit(EXIT_SUCCESS)
    try:
        config, out = _arguments(argv)
        run = Run(config, out, **options)
        train(run)
    except BadInput as error:
        print(f"{name}: bad input: {error}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    except Stopped as stopped:
        print(f"{name}: {stopped}", file=sys.stderr)
        sys.exit(EXIT_STOPPED)
    except Exception:
        traceback.print_exc()
        sys.exit(EXIT_FAILED)
    if not os.path.isfile(run.path(METRICS)):
        print(f"{name}: training returned without writing {METRICS}", file=sys.stderr)
        sys.exit(EXIT_FAILED)
    sys.exit(EXIT_SUCCESS)


def validate_main(check, argv=None):
    """The engine's config check (docs/run-contract.md, "Checking configs before anything runs"):
    `check(config)` raises `BadInput` for a bad config. Reads each FILE argument as a config, or
    `-` as one config per line on standard input, prints one verdict per config, and exits 0 when
    all are valid, 2 when some is not. Declare it as `engine: {validate: [python3, check.py]}`."""
    argv = sys.argv[1:] if argv is None else argv
    configs = []
    for name in argv:
        if name == "-":
            for number, line in enumerate(sys.stdin, start=1):
                if line.strip():
                    configs.append((f"-:{number}", line))
        else:
            try:
                with open(name, encoding="utf-8") as handle:
                    configs.append((name, handle.read()))
            except OSError as error:
                configs.append((name, error))
    all_valid = True
    for name, text in configs:
        verdict = {"file": name, "valid": True}
        try:
            if isinstance(text, OSError):
                raise BadInput(f"cannot read it: {text}")
            try:
                config = json.loads(text)
            except ValueError as error:
                raise BadInput(f"not JSON: {error}") from None
            if not isinstance(config, dict):
                raise BadInput("not a JSON object")
            check(config)
        except BadInput as error:
            verdict = {"file": name, "valid": False, "message": error.message}
            if error.key:
                verdict["key"] = error.key
            all_valid = False
        print(json.dumps(verdict, sort_keys=True))
    sys.stdout.flush()
    sys.exit(EXIT_SUCCESS if all_valid else EXIT_BAD_INPUT)
