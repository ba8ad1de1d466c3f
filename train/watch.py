"""Watch the loss while training: spikes, divergence and flat lines, said in plain words.

The guide's rule: the training loss should fall steadily. A spike (the loss jumps well above
its running average) or a non-finite loss means the learning rate is too high; a flat line (no
meaningful decrease over a window of steps) means it is too low, or the model has nothing
left to learn from this data.

Event kinds (stable): ``spike``, ``diverged`` (NaN/inf loss), ``flat``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from transformers import TrainerCallback

WARMUP_STEPS = 3  # no spike verdict before the running average means something
EMA = 0.1  # weight of the newest loss in the running average
MIN_JUMP = 0.1  # a spike must also be this much above the average in absolute terms
CONVERGED = 0.05  # below this loss a flat line is convergence, not a problem


def _bouncing(window: list[float], min_drop: float) -> bool:
    """Most consecutive changes flip sign and the spread dwarfs the progress: noise, not a
    plateau."""
    diffs = [b - a for a, b in zip(window, window[1:], strict=False)]
    flips = sum(1 for x, y in zip(diffs, diffs[1:], strict=False) if x * y < 0)
    spread = (max(window) - min(window)) / max(abs(window[0]), 1e-8)
    return flips > 0.6 * (len(diffs) - 1) and spread > 4 * min_drop


@dataclass
class WatchEvent:
    kind: str
    step: int
    loss: float
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "step": self.step, "loss": self.loss, "message": self.message}


@dataclass
class LossWatch(TrainerCallback):
    """A TrainerCallback; ``events`` holds what it found, ``log`` receives each message."""

    learning_rate: float
    spike_factor: float = 2.0
    flat_window: int = 30
    flat_min_drop: float = 0.01
    stop_on_divergence: bool = False
    log: Callable[[str], None] = lambda message: None
    events: list[WatchEvent] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    average: float | None = None
    _flat_reported_at: int = -1

    def _emit(self, kind: str, step: int, loss: float, message: str) -> None:
        self.events.append(WatchEvent(kind, step, loss, message))
        self.log(message)

    def observe(self, step: int, loss: float) -> bool:
        """Feed one logged training loss; returns True when training should stop."""
        lr = self.learning_rate
        if not math.isfinite(loss):
            self._emit(
                "diverged",
                step,
                loss,
                f"loss watch: training diverged at step {step} (loss is {loss}): the learning "
                f"rate {lr:g} is far too high; try {lr / 10:g}",
            )
            return self.stop_on_divergence
        stop = False
        avg = self.average
        if (
            avg is not None
            and len(self.losses) >= WARMUP_STEPS
            and loss > self.spike_factor * avg
            and loss - avg > MIN_JUMP
        ):
            self._emit(
                "spike",
                step,
                loss,
                f"loss watch: loss spike at step {step}: {loss:.4g} vs a running average of "
                f"{avg:.4g}. The learning rate {lr:g} is probably too high; try {lr / 2:g} "
                "(--lr), or more warm-up",
            )
            stop = self.stop_on_divergence
        self.losses.append(loss)
        self.average = loss if avg is None else (1 - EMA) * avg + EMA * loss
        self._check_flat(step)
        return stop

    def _check_flat(self, step: int) -> None:
        w = self.flat_window
        # Said once per run: a long plateau late in training needs one notice, not one per window.
        if len(self.losses) < w or self._flat_reported_at >= 0:
            return
        window = self.losses[-w:]
        half = w // 2
        first = sum(window[:half]) / half
        second = sum(window[half:]) / (w - half)
        if first <= CONVERGED:
            return
        if second > first * (1 - self.flat_min_drop):
            self._flat_reported_at = len(self.losses)
            lr = self.learning_rate
            head = (
                f"loss watch: the loss is flat over the last {w} logged steps ({first:.4g} -> "
                f"{second:.4g}, less than {self.flat_min_drop:.0%} lower)."
            )
            if _bouncing(window, self.flat_min_drop):
                advice = (
                    f" It bounces up and down without progress: the learning rate {lr:g} may be "
                    f"too high (try {lr / 2:g} with --lr), or the effective batch too small "
                    "(raise --grad-accum)"
                )
            else:
                advice = (
                    f" The learning rate {lr:g} may be too low (try {lr * 2:g} with --lr), or "
                    "the data has little left to teach"
                )
            self._emit("flat", step, second, head + advice)

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict | None = None, **kw: Any
    ) -> None:
        if logs and "loss" in logs and "eval_loss" not in logs:
            if self.observe(state.global_step, float(logs["loss"])):
                self.log("loss watch: stopping (--stop-on-divergence)")
                control.should_training_stop = True


class ProgressBar(TrainerCallback):
    """A tqdm bar on stderr (TRL's own writes its logs to stdout, which carries data)."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.eval_bar: Any = None

    def on_prediction_step(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        # An eval pass on a real model can take minutes: it gets its own bar.
        if self.eval_bar is None:
            from tqdm.auto import tqdm

            loader = kw.get("eval_dataloader")
            total = len(loader) if loader is not None and hasattr(loader, "__len__") else None
            self.eval_bar = tqdm(
                total=total,
                file=sys.stderr,
                unit="batch",
                dynamic_ncols=True,
                desc="eval",
                leave=False,
                mininterval=0.5 if sys.stderr.isatty() else 5.0,
            )
        self.eval_bar.update(1)

    def on_evaluate(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if self.eval_bar is not None:
            self.eval_bar.close()
            self.eval_bar = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(
            total=state.max_steps,
            initial=state.global_step,
            file=sys.stderr,
            unit="step",
            dynamic_ncols=True,
            desc="train",
            mininterval=0.5 if sys.stderr.isatty() else 5.0,
        )

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict | None = None, **kw: Any
    ) -> None:
        if self.bar is None or not logs:
            return
        if "loss" in logs:
            self.bar.set_postfix(loss=f"{float(logs['loss']):.4f}", refresh=False)
        if "eval_loss" in logs:
            self.bar.write(
                f"epoch {logs.get('epoch', 0):.2f}: eval loss {float(logs['eval_loss']):.4f}",
                file=sys.stderr,
            )

    def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
