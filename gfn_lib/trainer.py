"""The training loop: sample -> reward -> score -> loss -> step, with durable state.

Read top to bottom: :func:`get_lr` (warmup), :class:`Trainer` (build, ``train_step``,
``train``), then checkpointing and resume. A run folder holds::

    config.yaml      resolved TrainConfig (written first)
    metrics.csv      one row per step (METRIC_COLUMNS), flushed every cfg.metrics_every
    samples.csv      top-k sequences of the batch every cfg.top_k_every steps
    checkpoint.pt    model, optimiser, log Z, RNG states, step (every cfg.checkpoint_every)

Killed at any point, a new ``Trainer`` on the same folder resumes from the checkpoint,
drops metric rows past it and continues; on CPU the metrics then equal those of an
uninterrupted run (timing columns aside).
"""

from __future__ import annotations

import functools
import json
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import yaml

from gfn_lib import rewards
from gfn_lib.config import TrainConfig
from gfn_lib.graphs import SamplerGraph, TrainingGraph
from gfn_lib.losses import LossOutput, make_loss
from gfn_lib.metrics import STACK_METRICS, stack_metrics
from gfn_lib.policy import Evaluation, PolicyStack, TransformerPolicy
from gfn_lib.randomness import DropoutMasks, fork_generators
from gfn_lib.runtime import flush_subnormals, keep_freed_memory
from gfn_lib.schedule import get_lr
from gfn_lib.storage import CsvLog, atomic_torch_save, atomic_torch_save_soon, atomic_write_text

METRIC_COLUMNS = [
    "step", "loss", "total_loss", "log_z", "mean_log_pf", "mean_length", "mean_actions",
    "log_pf_per_action", "mean_reward", "mean_log_reward", "max_reward", "mean_target_log_reward",
    "residual_mean", "residual_std", "entropy", "grad_norm", "lr", "log_z_lr", "unique_frac",
    "composition_entropy", "letters_used", "diversity", "step_time_s", "steps_per_s",
]  # fmt: skip
"""Per-step metrics. ``loss`` is the GFlowNet loss (TB: mean squared residual), ``total_loss``
adds the entropy bonus; ``mean_log_pf`` is the batch mean of sum_t log pi(a_t|s_t) (STOP
included); ``log_pf_per_action`` = sum log_pf / sum actions; ``mean_length`` counts residues,
``mean_actions`` residues + STOP; rewards are R(x) in (0, 1] before exponent and length
penalty; ``mean_target_log_reward`` is the log R'(x) the loss targets; residual =
log Z + log P_F - log R'. ``composition_entropy`` is the batch mean of each sequence's residue
composition entropy / log V (reward C's H; 0.23 for a 50/50 two-letter sequence) and
``letters_used`` the number of distinct residues in the whole batch: together they show a
low-entropy trap (the published "DL trap": 2 letters, 0.23). ``diversity`` is the published
runs' 1 - mean pairwise identity (:func:`gfn_lib.metrics.pairwise_diversity`), on the batch."""

TIMING_COLUMNS = ["step_time_s", "steps_per_s"]
SAMPLE_COLUMNS = ["step", "rank", "sequence", "reward"]

# fields that may change between a checkpoint and its resume without breaking exactness
# (not n_steps under the cosine schedule: the lr of every step depends on it)
_RESUMABLE_CHANGES = {"n_steps", "metrics_every", "checkpoint_every", "top_k_every", "wandb_mode", "device", "static_shapes",
                      "cuda_graph", "cuda_graph_training"}  # fmt: skip


GRAPH_DEVICES = ("cuda",)
"""Devices where ``TrainConfig.cuda_graph`` takes effect (tests add ``"cpu"``: :class:`SamplerGraph` then
replays the loop eagerly on its fixed buffers, the same path without the capture)."""


def select_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but torch.cuda.is_available() is False")
    return torch.device(name)


class Trainer:
    """A GFlowNet trainer for one config; ``out_dir=None`` keeps everything in memory."""

    def __init__(
        self,
        cfg: TrainConfig,
        out_dir: str | Path | None = None,
        reward: rewards.Reward | None = None,
        tracker: Any | None = None,
    ) -> None:
        self.cfg = cfg
        self.env = cfg.env
        self.device = select_device(cfg.device)
        if self.device.type == "cpu":
            flush_subnormals()  # a collapsed policy's tiny floats at full speed (README "Speed")
            keep_freed_memory()  # no page faults on each step's fresh tensors (same numbers)
        self._autocast = cfg.bf16 and self.device.type == "cuda"
        self._graphed = cfg.cuda_graph and self.device.type in GRAPH_DEVICES
        self._compiled = cfg.compile and self.device.type == "cuda"
        self._static = cfg.static_shapes or self._graphed or self._compiled
        self._graph_training = (self._graphed and cfg.cuda_graph_training and not self._compiled and not cfg.bf16
                                and cfg.dropout_scoring != "recompute")  # fmt: skip
        self._capturable = self._graph_training and self.device.type == "cuda"  # lr and step counts on the device
        torch.manual_seed(cfg.seed)
        self.policy = TransformerPolicy(
            self.env, cfg.n_layers, cfg.d_model, cfg.n_heads, state_flow=cfg.loss == "subtb", dropout=cfg.dropout,
            init=cfg.init, final_layernorm=cfg.final_layernorm, positions=cfg.positions,
        ).to(self.device)  # fmt: skip
        if cfg.init_nudge:
            self.policy.nudge(cfg.init_nudge)
        self.objective = make_loss(cfg.loss, cfg.log_z_init, cfg.subtb_lambda).to(self.device)
        self.optimizer = self._make_optimizer()
        self.generator = torch.Generator(self.device).manual_seed(cfg.seed)
        self.reward = reward if reward is not None else rewards.load(cfg.reward, self.env, self.device, **cfg.reward_options)
        self.tracker = tracker
        self.step = 0
        self.elapsed_s = 0.0
        self._sampler_graph: SamplerGraph | None = None  # the captured decode loop of the stacks this run leads
        self._training_graph: TrainingGraph | None = None  # the captured training half of those stacks
        self._lrs: list[float] = []  # this step's learning rates, one per parameter group (the logs' copy)
        self._spent_masks: DropoutMasks | None = None  # the last stacked step's, led by this run: buffer to refill
        self._checkpoint_write: Future[None] | None = None  # this run's checkpoint being written in the background

        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.metrics: CsvLog | None = None
        self.samples: CsvLog | None = None
        self.history: list[dict[str, Any]] = []  # rows of this process (in-memory runs)
        if self.out_dir is not None:
            self.metrics = CsvLog(self.out_dir / "metrics.csv", METRIC_COLUMNS, cfg.metrics_every)
            self.samples = CsvLog(self.out_dir / "samples.csv", SAMPLE_COLUMNS, 1)
            if self.checkpoint_path.exists():
                self.resume()
            else:
                self._start_fresh()

    def _make_optimizer(self) -> torch.optim.Optimizer:
        """Two explicit parameter groups (torchgfn style): the policy (``weight_decay``) and log Z
        (``logz_parameters()``, its own lr, never decayed). ``foreach``: the multi-tensor update, the same
        operations in the same order as the per-tensor loop torch takes on CPU by default, so the same
        numbers (a test checks); a small run's update 1.75 -> 1.2-1.3 ms here (CUDA's default already)."""
        cfg = self.cfg
        groups = [{"params": list(self.policy.parameters()), "lr": cfg.lr, "base_lr": cfg.lr,
                   "weight_decay": cfg.weight_decay, "name": "policy"}]  # fmt: skip
        if self.objective.logz_parameters():
            lz = cfg.effective_log_z_lr
            groups.append({"params": self.objective.logz_parameters(), "lr": lz, "base_lr": lz,
                           "weight_decay": 0.0, "name": "log_z"})  # fmt: skip
        optimizer_class = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[cfg.optimizer]
        optimizer = optimizer_class(groups, foreach=True)
        self._settle_optimizer(optimizer)
        return optimizer

    def _settle_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        """For a captured training half (``self._capturable``): ``capturable`` groups whose learning rates are
        device tensors (a replay reads them; :meth:`_set_lrs` fills them in place) and step counts on the
        device; otherwise plain floats. Called after creating and after loading a checkpoint, which may come
        from either kind of run."""
        for group in optimizer.param_groups:
            lr = float(group["lr"])
            group["capturable"] = self._capturable
            group["lr"] = torch.tensor(lr, device=self.device) if self._capturable else lr
            for p in group["params"]:
                state = optimizer.state.get(p)
                if state and "step" in state:
                    step = state["step"]
                    state["step"] = step.to(self.device, torch.float32) if self._capturable else step.cpu()

    # ---- one update -------------------------------------------------------------------------
    def train_step(self) -> dict[str, Any]:
        """One update of this run (:func:`train_steps` with this run alone)."""
        return train_steps([self])[0]

    def _release_stack_buffers(self) -> None:
        """Drop what this run keeps for the stacks it leads (a mask buffer, captured graphs)."""
        self._spent_masks, self._sampler_graph, self._training_graph = None, None, None

    def _set_lrs(self) -> None:
        self._lrs = [get_lr(self.step, g["base_lr"], self.cfg.warmup_steps, self.cfg.lr_schedule, self.cfg.n_steps)
                     for g in self.optimizer.param_groups]  # fmt: skip
        for group, lr in zip(self.optimizer.param_groups, self._lrs):
            if isinstance(group["lr"], torch.Tensor):
                group["lr"].fill_(lr)  # in place: a captured step reads it there
            else:
                group["lr"] = lr

    def _loss(self, ev: Evaluation, target_log_r: torch.Tensor, lengths: torch.Tensor) -> tuple[LossOutput, torch.Tensor, torch.Tensor]:
        """The GFlowNet loss, the optimised total (with the exploration term) and the mean entropy."""
        cfg = self.cfg
        out = self.objective(
            log_pf=ev.log_pf, log_reward=target_log_r, log_pf_steps=ev.log_pf_steps,
            log_flows=ev.log_flows, lengths=lengths,
        )  # fmt: skip
        entropy = ev.entropy_steps.sum() / ev.valid.sum()
        if cfg.entropy_term == "entropy-bonus":
            total = out.loss - cfg.entropy_weight * entropy
        else:  # "log-pf-penalty": the published phase3b entropy_reg, -w * mean(sum_t log P_F)
            total = out.loss - cfg.entropy_weight * ev.log_pf.mean()
        return out, total, entropy

    def _update(self, out: LossOutput, total: torch.Tensor, entropy: torch.Tensor, ev: Evaluation,
                lengths: torch.Tensor, log_r: torch.Tensor, target_log_r: torch.Tensor) -> torch.Tensor:  # fmt: skip
        """Clip, step the optimiser (gradients are in place), and the step's statistics
        (``METRIC_COLUMNS[1:16]``) as one tensor on the device: nothing is read back here, and nothing
        but tensors changes (a CUDA graph may capture it; the caller counts the step)."""
        cfg = self.cfg
        grad_norm = torch.nn.utils.clip_grad_norm_(self.policy.parameters(), cfg.grad_clip or math.inf)
        self.optimizer.step()
        n_actions = self.env.n_actions_taken(lengths).float()
        reward = log_r.exp()
        return torch.stack([
            out.loss.detach(), total.detach(), out.log_z.float(), ev.log_pf.detach().mean(), lengths.float().mean(),
            n_actions.mean(), ev.log_pf.detach().sum() / n_actions.sum(), reward.mean(), log_r.mean(), reward.max(),
            target_log_r.mean(), out.residual.mean(), out.residual.std(), entropy.detach(), grad_norm.float(),
        ])  # fmt: skip

    def _finish_step(self, stats: list[float], batch_stats: list[float], actions: torch.Tensor, lengths: torch.Tensor,
                     reward: torch.Tensor, started: float) -> dict[str, Any]:  # fmt: skip
        """Record the step from host copies: ``stats`` (:meth:`_update`'s), ``batch_stats``
        (:func:`~gfn_lib.metrics.stack_metrics`' row), the batch's ``actions [B, T]``, ``lengths [B]`` and
        ``reward [B]``."""
        dt = time.perf_counter() - started
        self.elapsed_s += dt
        row = {"step": self.step, **dict(zip(METRIC_COLUMNS[1:16], stats))}
        row.update(lr=self._lrs[0], log_z_lr=self._lrs[-1] if len(self._lrs) > 1 else float("nan"))
        row.update(zip(STACK_METRICS, batch_stats))
        row.update(letters_used=int(row["letters_used"]), step_time_s=dt, steps_per_s=1.0 / dt)
        self._record(row, actions, lengths, reward)
        return row

    def _record(self, row: dict[str, Any], actions: torch.Tensor, lengths: torch.Tensor, reward: torch.Tensor) -> None:
        self.history.append(row)
        if self.metrics is not None:
            self.metrics.append(row)
        if self.cfg.top_k and self.step % self.cfg.top_k_every == 0:
            top = self.top_sequences(actions, lengths, reward, self.cfg.top_k)
            if self.samples is not None:
                for rank, (seq, r) in enumerate(top, 1):
                    self.samples.append({"step": self.step, "rank": rank, "sequence": seq, "reward": r})
            if self.tracker is not None:
                self.tracker.log_samples(self.step, top)
        if self.tracker is not None:
            self.tracker.log(row)
        if self.out_dir is not None and self.step % self.cfg.checkpoint_every == 0:
            self.save_checkpoint(wait=False)  # off the step's path: written while the next steps run

    def top_sequences(self, actions: torch.Tensor, lengths: torch.Tensor, reward: torch.Tensor, k: int) -> list[tuple[str, float]]:
        """The ``k`` best distinct sequences of a batch, best first."""
        best: dict[str, float] = {}
        for seq, r in zip(self.env.decode(actions, lengths), reward.tolist()):
            best[seq] = r
        return sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))[:k]

    # ---- the loop ---------------------------------------------------------------------------
    def train(self, progress: bool = True, callback: Callable[[dict[str, Any]], None] | None = None) -> pd.DataFrame:
        """Run until ``cfg.n_steps`` (continuing a resumed run); returns all metrics."""
        train_together([self], progress, callback)
        return self.metrics_frame()

    def metrics_frame(self) -> pd.DataFrame:
        """All metrics of the run so far (from disk when the run has a folder)."""
        if self.metrics is None:
            return pd.DataFrame(self.history, columns=METRIC_COLUMNS)
        self.metrics.flush()
        return pd.read_csv(self.metrics.path)

    # ---- checkpoints ------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        assert self.out_dir is not None
        return self.out_dir / "checkpoint.pt"

    def _start_fresh(self) -> None:
        assert self.out_dir is not None and self.metrics is not None and self.samples is not None
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for log in (self.metrics, self.samples):  # stale logs of a run that never checkpointed
            log.path.unlink(missing_ok=True)
        atomic_write_text(self.out_dir / "config.yaml", yaml.safe_dump(self.cfg.model_dump(), sort_keys=False))
        atomic_write_text(self.out_dir / "reward.json", json.dumps(self.reward.describe(), indent=2, default=str))

    def save_checkpoint(self, wait: bool = True) -> None:
        """Flush logs, then atomically write every piece of state the next step depends on. ``wait=False`` (the
        periodic checkpoints): the state is copied now and written by a background thread while training goes
        on. Either way this run's earlier background write is finished first (its error raised here)."""
        assert self.metrics is not None and self.samples is not None
        self.finish_checkpoint()
        self.metrics.flush()
        self.samples.flush()
        state = {
            "step": self.step,
            "elapsed_s": self.elapsed_s,
            "config": self.cfg.model_dump(),
            "policy": self.policy.state_dict(),
            "objective": self.objective.state_dict(),
            "optimizer": _portable(self.optimizer.state_dict()),
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state() if self.device.type == "cuda" else None,
            "reward": self.reward.state_dict(),
        }
        if wait:
            atomic_torch_save(state, self.checkpoint_path)
        else:
            self._checkpoint_write = atomic_torch_save_soon(state, self.checkpoint_path)

    def finish_checkpoint(self) -> None:
        """Wait for this run's background checkpoint write, if one is under way; raise its error."""
        write, self._checkpoint_write = self._checkpoint_write, None
        if write is not None:
            write.result()

    def resume(self) -> None:
        """Load the checkpoint and cut the logs back to its step."""
        assert self.metrics is not None and self.samples is not None
        # on the CPU: RNG states must stay CPU byte tensors; the modules and the optimiser move theirs
        state = torch.load(self.checkpoint_path, map_location="cpu", weights_only=False)
        saved, now = state["config"], self.cfg.model_dump()
        resumable = _RESUMABLE_CHANGES - ({"n_steps"} if self.cfg.lr_schedule == "constant-then-cosine" else set())
        saved = {**TrainConfig().model_dump(), **saved}  # a field added since the checkpoint had its default
        changed = sorted(k for k in now if saved[k] != now[k] and k not in resumable)
        if changed:
            raise ValueError(
                f"{self.checkpoint_path}: checkpoint was written with a different config (fields: {', '.join(changed)})"
            )
        self.policy.load_state_dict(state["policy"])
        self.objective.load_state_dict(state["objective"])
        self.optimizer.load_state_dict(state["optimizer"])
        self._settle_optimizer(self.optimizer)
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"])
        self.reward.load_state_dict(state.get("reward", {}))
        self.step, self.elapsed_s = state["step"], state["elapsed_s"]
        self.metrics.truncate_after(self.step)
        if self.samples.path.exists():
            self.samples.truncate_after(self.step)


def _portable(optimizer_state: dict[str, Any]) -> dict[str, Any]:
    """An optimiser's ``state_dict`` with plain-float learning rates (a captured step keeps them as device
    tensors), so that any run resumes it (:meth:`Trainer._settle_optimizer`)."""
    for group in optimizer_state["param_groups"]:
        group["lr"] = float(group["lr"])
    return optimizer_state


# ---- many runs as one computation --------------------------------------------------------------
SHARED_REWARD_FORWARD_DEVICES = ("cuda",)
"""Devices on which a stack's rewards run a model they share once for all runs (:func:`gfn_lib.rewards.shared_forwards`).
On a GPU the published rewards' backbone is bound by kernel launches, so one forward over six batches costs
what one over a batch does; on this workplace's 2-core CPU it was slower than six (48 against 62 ms for the
six documented runs' rewards, ``benchmarks/bench_rewards.py --stack``: the larger activations leave the cache)."""

_compiled_evaluate: Callable[..., Evaluation] | None = None


def _evaluate(stack: PolicyStack, actions: torch.Tensor, lengths: torch.Tensor, masks: DropoutMasks | None,
              compiled: bool, trim: bool) -> Evaluation:  # fmt: skip
    """The scoring pass; ``trim`` (cut the padding columns) reads the longest length back from the device,
    so fixed shapes (``static_shapes``, ``cuda_graph``) score untrimmed; compiled, always untrimmed."""
    global _compiled_evaluate
    if not compiled:
        return stack.evaluate(actions, lengths, trim=trim, masks=masks)
    if _compiled_evaluate is None:
        _compiled_evaluate = torch.compile(PolicyStack.evaluate)
    return _compiled_evaluate(stack, actions, lengths, trim=False, masks=masks)


def train_steps(trainers: Sequence[Trainer]) -> list[dict[str, Any]]:
    """One update of each run in ``trainers``, with one policy computation for all of them.

    The runs' policies must share their shape (:class:`~gfn_lib.policy.PolicyStack`), batch size and
    device; everything else is each run's own: config (lr, log Z, loss, exploration, ...), step,
    optimiser, log Z, reward and its running state, generator, metrics and checkpoints. Sampling,
    scoring and the batch metrics run stacked; rewards, losses, clipping and optimiser steps run per
    run (on CUDA a model the rewards share runs once: :data:`SHARED_REWARD_FORWARD_DEVICES`); the summed
    loss is backpropagated once (the runs share no parameter, so each gets its own gradient). A run's
    metrics are those it has alone (``tests/test_multirun.py``); ``step_time_s`` is the stack's. With
    dropout, the scoring pass draws masks of its own, or reuses the sampler's (``dropout_scoring``); or, as the
    published sampler, every position is a pass over the whole prefix that draws and scores its action
    (``recompute``: no scoring pass)."""
    started = time.perf_counter()
    first = trainers[0]
    for tr in trainers[1:]:
        if (tr.device, tr.cfg.batch_size, tr._autocast, tr._static, tr._graphed, tr._graph_training) != (
            first.device, first.cfg.batch_size, first._autocast, first._static, first._graphed, first._graph_training
        ):
            raise ValueError("runs trained together need the same device, batch_size, bf16, static_shapes, cuda_graph "
                             "and cuda_graph_training")
    for tr in trainers:
        tr._set_lrs()
    stack = PolicyStack([tr.policy for tr in trainers])
    noise_gens, mask_gens, scoring_gens = (fork_generators([tr.generator for tr in trainers]) for _ in range(3))
    temperatures, epsilons = [tr.cfg.temperature for tr in trainers], [tr.cfg.epsilon for tr in trainers]
    recompute = first.cfg.dropout_scoring == "recompute"  # the published sampler: sampling is scoring
    if recompute:
        with torch.autocast(first.device.type, dtype=torch.bfloat16, enabled=first._autocast):
            traj, ev = stack.sample_recomputing(first.cfg.batch_size, noise_gens, mask_gens, temperatures, epsilons,
                                                static=first._static)  # [R, B, T]  # fmt: skip
    else:
        masks = stack.draw_masks(mask_gens, first.cfg.batch_size, first._spent_masks)
        first._spent_masks = None
        if first._graphed and first._sampler_graph is None:
            first._sampler_graph = SamplerGraph()
        traj = stack.sample(first.cfg.batch_size, noise_gens, temperatures, epsilons, static=first._static,
                            masks=masks, graph=first._sampler_graph)  # [R, B, T]  # fmt: skip
        if first.cfg.dropout_scoring == "fresh":  # the sampler is done with its masks: the scoring pass's go in their buffer
            masks = stack.draw_masks(scoring_gens, first.cfg.batch_size, masks)
    run_log_rs, run_targets = [], []
    # a model several runs' rewards call (the published rewards' backbone) runs once for all of them, where that pays
    shared = [tr.reward for tr in trainers] if first.device.type in SHARED_REWARD_FORWARD_DEVICES else []
    with torch.no_grad(), rewards.shared_forwards(shared, traj.actions, traj.lengths):
        for r, tr in enumerate(trainers):
            lengths = traj.lengths[r]
            log_r = tr.reward.log_reward(traj.actions[r], lengths, eps=tr.cfg.log_reward_eps, update=True)  # [B], <= 0
            run_log_rs.append(log_r)
            run_targets.append(tr.cfg.reward_exponent * log_r - tr.cfg.length_penalty * lengths)  # [B]
    log_rs, targets = torch.stack(run_log_rs), torch.stack(run_targets)  # [R, B]

    if not recompute:
        inputs = {"actions": traj.actions, "lengths": traj.lengths, "targets": targets, "log_rs": log_rs}
        fn = functools.partial(_train_half, trainers, stack)
        if first._graph_training:
            if first._training_graph is None:
                first._training_graph = TrainingGraph()
            key = (tuple(id(tr) for tr in trainers), tuple(traj.actions.shape), masks is None or tuple(masks.storage.shape))
            stats = first._training_graph(key, fn, inputs, masks, first.device)  # [R, 15]
        else:
            stats = fn(masks=masks, **inputs)  # [R, 15]
        first._spent_masks = masks  # nothing holds them after the backward pass: the next step refills their buffer
    else:
        stats = _update_runs(trainers, ev, traj.lengths, log_rs, targets)  # [R, 15]
    for tr in trainers:
        tr.step += 1
    batch_stats = stack_metrics(first.env, traj.actions, traj.lengths)  # [R, 4]
    # everything the logs need crosses to the host here, once per stack (the trainer's only read-back; forking the
    # generators and some rewards' running state still read back on their own)
    stats, batch_stats, actions, lengths, reward = (
        t.cpu() for t in (stats, batch_stats, traj.actions, traj.lengths, log_rs.exp())
    )  # fmt: skip
    return [tr._finish_step(stats[r].tolist(), batch_stats[r].tolist(), actions[r], lengths[r], reward[r], started)
            for r, tr in enumerate(trainers)]  # fmt: skip


def _train_half(trainers: Sequence[Trainer], stack: PolicyStack, actions: torch.Tensor, lengths: torch.Tensor,
                targets: torch.Tensor, log_rs: torch.Tensor, masks: DropoutMasks | None) -> torch.Tensor:  # fmt: skip
    """Score ``actions [R, B, T]`` (``lengths [R, B]``) under ``masks``, then each run's loss against its
    ``targets [R, B]`` (log R' of the batch; ``log_rs [R, B]`` its log R), one backward pass and each run's
    update: the step's statistics ``[R, 15]``. Tensors in, a tensor out, no read-back: what
    :class:`~gfn_lib.graphs.TrainingGraph` captures."""
    first = trainers[0]
    with torch.autocast(first.device.type, dtype=torch.bfloat16, enabled=first._autocast):
        ev = _evaluate(stack, actions, lengths, masks, first._compiled, trim=not first._static)  # [R, B, T]
    return _update_runs(trainers, ev, lengths, log_rs, targets)


def _update_runs(trainers: Sequence[Trainer], ev: Evaluation, lengths: torch.Tensor, log_rs: torch.Tensor,
                 targets: torch.Tensor) -> torch.Tensor:  # fmt: skip
    """Each run's loss on its scores ``ev [R, B, T]``, the summed loss backpropagated once (the runs share no
    parameter, so each gets its own gradient), then each run's clipped update; the statistics ``[R, 15]``."""
    results = [tr._loss(ev.run(r), targets[r], lengths[r]) for r, tr in enumerate(trainers)]
    for tr in trainers:
        tr.optimizer.zero_grad(set_to_none=True)
    torch.stack([total for _, total, _ in results]).sum().backward()
    return torch.stack([
        tr._update(out, total, entropy, ev.run(r), lengths[r], log_rs[r], targets[r])
        for r, (tr, (out, total, entropy)) in enumerate(zip(trainers, results))
    ])  # [R, 15]  # fmt: skip


def train_together(trainers: Sequence[Trainer], progress: bool = True,
                   callback: Callable[[dict[str, Any]], None] | None = None) -> None:  # fmt: skip
    """Train every run to its ``n_steps`` (each continuing from its own step), stacked while more than
    one is unfinished; a checkpoint of each run with a folder is written at the end, or on any exit."""
    from tqdm.auto import tqdm

    total = sum(tr.cfg.n_steps for tr in trainers)
    desc = "train" if len(trainers) == 1 else f"train x{len(trainers)}"
    bar = tqdm(total=total, initial=sum(tr.step for tr in trainers), disable=not progress, desc=desc, unit="step")
    try:
        while active := [tr for tr in trainers if tr.step < tr.cfg.n_steps]:
            rows = train_steps(active)
            bar.update(len(rows))
            row = rows[0]
            if row["step"] % 10 == 0 or row["step"] == active[0].cfg.n_steps:
                bar.set_postfix(loss=f"{row['loss']:.3g}", log_z=f"{row['log_z']:.2f}", R=f"{row['mean_reward']:.2f}")
            if callback is not None:
                for row in rows:
                    callback(row)
            for tr in active:
                if tr.step >= tr.cfg.n_steps:  # a finished run leads no stack any more: its buffers and graph go
                    tr._release_stack_buffers()
    finally:
        bar.close()
        for tr in trainers:
            tr._release_stack_buffers()
            if tr.out_dir is not None:
                tr.save_checkpoint()
