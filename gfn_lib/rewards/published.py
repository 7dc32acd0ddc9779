"""The memo's four rewards as they actually ran (public repo ``ewijaya/gflownet-peptide``), with stand-ins named.

Registered as ``baseline-published``, ``trained-published``, ``esm2pll-published`` and
``improved-published`` (formulas and the evidence for each fact: ``docs/rewards.md``)::

    entropy_gate(x) = sigmoid(10 (H(x) - 0.5)),  H = -sum_a f_a log f_a / log 20   (f_a: residue fractions)
    length_gate(x)  = sigmoid(0.5 (L - 10))
    naturalness(x)  = sigmoid(||mean_i e_i(x)|| / 10)      e_i: last-layer embedding of residue i

    improved-published:  s = naturalness * entropy_gate * length_gate          -> running min-max
    esm2pll-published:   s = mean_i log p(x_i | x)  (ONE unmasked forward)       -> running min-max
    trained-published:   R = p_stability * entropy_gate * length_gate * naturalness ** 0.5
    baseline-published:  R = exp(MLP_s(e)) * softplus(MLP_b(e)) * sigmoid(MLP_n(e)) ** 0.5,
                         e = mean-pooled embedding, MLP heads untrained (fixed seed)

Running min-max (B, C): every raw score of a *training* batch (``update=True``) updates the
all-time min and max and a count; then, once the count exceeds 10, each score of the
batch becomes ``(s - min) / (max - min)`` with the min and max including this batch
(``0.5`` for all when max == min); before that the raw score is returned. A new all-time
low therefore scores exactly 0 (log R = log 1e-8 with the published eps). The state is
three numbers (:meth:`RunningMinMax.state_dict`), checkpointed with the run.

Stand-ins (ESM-2 weights cannot be fetched here): the embedding / language model is the
in-project ESM-style MLM (:class:`gfn_lib.rewards.mlm.ESMStyleMLM`, 2 layers x 64) or a
local ESM-2 checkpoint (option ``checkpoint`` or ``$GFN_ESM2_CHECKPOINT``); reward-A's
FLIP-meltome stability predictor is our AMP classifier. :meth:`describe` lists them.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from gfn_lib.env import AMINO_ACIDS, PeptideEnv
from gfn_lib.rewards import classifier, mlm
from gfn_lib.rewards.base import Reward, register
from gfn_lib.rewards.esm2pll import CHECKPOINT_ENV

N_RES = len(AMINO_ACIDS)

# published constants (gflownet_peptide/rewards/improved_reward.py defaults, also passed by scripts/train_gflownet.py)
ENTROPY_THRESHOLD = 0.5
ENTROPY_SHARPNESS = 10.0
MIN_LENGTH = 10
LENGTH_SHARPNESS = 0.5
EMBEDDING_TEMPERATURE = 10.0
WARMUP_SCORES = 10
"""Normalisation starts once more than this many raw scores have been seen (``count > 10``)."""


# ---- gates ------------------------------------------------------------------------------
def composition_entropy(actions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Shannon entropy of the residue composition over log 20, ``[B]`` in [0, 1] (the one definition,
    :meth:`gfn_lib.env.PeptideEnv.composition_entropy`, which the trainer also logs)."""
    return _AMINO_ACID_ENV.composition_entropy(actions, lengths)


def entropy_gate(actions: torch.Tensor, lengths: torch.Tensor, threshold: float = ENTROPY_THRESHOLD,
                 sharpness: float = ENTROPY_SHARPNESS) -> torch.Tensor:  # fmt: skip
    """``sigmoid(sharpness (H - threshold))`` ``[B]``."""
    return torch.sigmoid(sharpness * (composition_entropy(actions, lengths) - threshold))


def length_gate(lengths: torch.Tensor, min_length: int = MIN_LENGTH, sharpness: float = LENGTH_SHARPNESS) -> torch.Tensor:
    """``sigmoid(sharpness (L - min_length))`` ``[B]``."""
    return torch.sigmoid(sharpness * (lengths.float() - min_length))


_AMINO_ACID_ENV = PeptideEnv()  # 20 residues: H is normalised by log 20


# ---- running min-max ----------------------------------------------------------------------
class RunningMinMax:
    """All-time min / max / count of raw scores and the published rescaling (module docstring)."""

    def __init__(self, warmup: int = WARMUP_SCORES) -> None:
        self.warmup = warmup
        self.min = math.inf
        self.max = -math.inf
        self.count = 0

    def __call__(self, raw: torch.Tensor, update: bool) -> torch.Tensor:
        """``raw [B]`` -> rescaled ``[B]`` (float64; raw before warm-up). ``update``: fold ``raw`` in first."""
        s = raw.detach().double()
        if update and s.numel():
            self.count += s.numel()
            self.min = min(self.min, float(s.min()))
            self.max = max(self.max, float(s.max()))
        if self.count <= self.warmup:
            return s
        span = self.max - self.min
        if span > 0:
            return (s - self.min) / span
        return torch.full_like(s, 0.5)

    def state_dict(self) -> dict[str, Any]:
        return {"min": self.min, "max": self.max, "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if set(state) != {"min", "max", "count"}:
            raise KeyError(f"running min-max state needs keys min, max, count; got {sorted(state)}")
        self.min, self.max, self.count = float(state["min"]), float(state["max"]), int(state["count"])


# ---- backbone: in-project MLM or a local ESM-2 checkpoint ------------------------------------
class Backbone(nn.Module):
    """Last-layer embeddings and full-vocabulary logits from ONE unmasked forward.

    Our token layout ``<cls> x_1..x_L <eos> <pad>..`` (:func:`mlm.to_mlm_tokens`) is the one
    fair-esm's batch converter makes; with a checkpoint, ids are mapped to its vocabulary.
    """

    def __init__(self, model: nn.Module, source: dict[str, Any]) -> None:
        super().__init__()
        self.model = model.eval()
        self.source = source
        self.hf = isinstance(model, mlm.HFEsmAdapter)
        self._shared: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]] = []
        """While :meth:`sharing` is open: (actions, lengths, tokens, hidden states) of each run's batch."""

    def forward(self, actions: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (tokens ``[B, T]`` in our ids, last-layer hidden states ``[B, T, D]``, final LayerNorm applied)."""
        for a, n, tok, h in self._shared:
            if _same_view(a, actions) and _same_view(n, lengths):
                return tok, h
        return self._forward(actions, lengths)

    @contextlib.contextmanager
    def sharing(self, actions: torch.Tensor, lengths: torch.Tensor, runs: Sequence[int]) -> Iterator[None]:
        """One forward over the batches of ``runs`` (``actions [R, B, T]``, ``lengths [R, B]``), answering
        :meth:`forward` on each ``(actions[r], lengths[r])`` while open (:func:`~gfn_lib.rewards.base.shared_forwards`).

        Run r's part is cut to the width of its own longest sequence: padding is masked out of the model's
        attention, so its tokens and hidden states are those of a forward on its batch alone (to float
        tolerance: a larger matrix product may add in another order), the width-dependent batch-padded
        pooling included."""
        idx = torch.tensor(list(runs), device=actions.device)
        B, their_lengths = actions.shape[1], lengths[idx]  # [N, B]
        tok, h = self._forward(actions[idx].flatten(0, 1), their_lengths.flatten(0, 1))  # [N B, W], [N B, W, D]
        widths = (their_lengths.amax(1) + 2).tolist()  # one read-back for all runs
        self._shared = [(actions[r], lengths[r], tok[i * B : (i + 1) * B, :w], h[i * B : (i + 1) * B, :w])
                        for i, (r, w) in enumerate(zip(runs, widths))]  # fmt: skip
        try:
            yield
        finally:
            self._shared = []

    def _forward(self, actions: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tok = mlm.to_mlm_tokens(actions, lengths)  # [B, T]
        if self.hf:
            ids = self.model.to_esm[tok]
            h = self.model.model.esm(input_ids=ids, attention_mask=(ids != self.model.pad_id).long()).last_hidden_state
        else:
            h = self.model.hidden(tok)
        return tok, h.float()

    def log_probs(self, h: torch.Tensor) -> torch.Tensor:
        """``h [..., D]`` -> log-softmax over the model's FULL vocabulary ``[..., V]`` (specials included)."""
        logits = self.model.model.lm_head(h) if self.hf else self.model.logits_from_hidden(h)
        return logits.float().log_softmax(-1)

    def vocab_id(self, residues: torch.Tensor) -> torch.Tensor:
        """Our residue ids -> the model's vocabulary ids."""
        return self.model.to_esm[residues] if self.hf else residues

    @property
    def dim(self) -> int:
        return int(self.model.model.config.hidden_size) if self.hf else int(self.model.cfg.dim)

    @property
    def vocab_size(self) -> int:
        return int(self.model.model.config.vocab_size) if self.hf else mlm.MLM_VOCAB


def _same_view(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether ``a`` and ``b`` are the same elements of the same memory (e.g. two ``x[r]`` of one ``x``)."""
    return (a.device == b.device and a.dtype == b.dtype and a.data_ptr() == b.data_ptr() and a.shape == b.shape
            and a.stride() == b.stride())  # fmt: skip


_BACKBONES: dict[tuple[Any, ...], Backbone] = {}


def shared_backbone(device: torch.device, checkpoint: str | None = None, **mlm_config: Any) -> Backbone:
    """One :class:`Backbone` per (device, checkpoint, MLM config) per process (the four rewards share it)."""
    checkpoint = checkpoint or os.environ.get(CHECKPOINT_ENV) or None
    key = (str(device), checkpoint, tuple(sorted(mlm_config.items())))
    if key not in _BACKBONES:
        if checkpoint:
            model: nn.Module = mlm.HFEsmAdapter(Path(checkpoint))
            source = {"model": "ESM-2 checkpoint (transformers EsmForMaskedLM)", "checkpoint": str(checkpoint)}
        else:
            cfg = mlm.MLMConfig(**mlm_config)
            model, metrics = mlm.load_or_train(cfg)
            source = {"model": "in-project ESM-style MLM (ESM-2 architecture, trained on modlAMP sequences)",
                      "config": asdict(cfg), "n_params": metrics["n_params"], "cache_key": metrics["cache_key"]}  # fmt: skip
        for p in model.parameters():
            p.requires_grad_(False)
        _BACKBONES[key] = Backbone(model.to(device), source)
    return _BACKBONES[key]


def backbone_stand_in(bb: Backbone, published: str) -> str:
    """One line naming what replaces the published ``published`` model."""
    if bb.hf:
        return (f"{published} -> local checkpoint {bb.source['checkpoint']} (transformers EsmForMaskedLM, "
                f"{bb.dim}-dim); it stands in for {published} unless it is that model")  # fmt: skip
    c = bb.source["config"]
    return (f"{published} -> in-project ESM-style MLM ({c['layers']} layers x {c['dim']}-dim, "
            f"{bb.source['n_params']} parameters, trained on modlAMP peptides)")  # fmt: skip


def check_tokens(env: PeptideEnv, actions: torch.Tensor, lengths: torch.Tensor) -> None:
    if env.alphabet != AMINO_ACIDS:
        raise ValueError(f"published rewards need the 20 amino acids {AMINO_ACIDS}, got alphabet {env.alphabet!r}")
    inside = torch.arange(actions.shape[1], device=actions.device).unsqueeze(0) < lengths.unsqueeze(1)
    if bool(((actions < 0) | (actions >= N_RES)).masked_select(inside).any()):
        raise ValueError(f"residue ids must be in [0, {N_RES}) within lengths")


def residue_mask(tok: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``[B, T]``: True at the residue positions 1..L of our token layout."""
    pos = torch.arange(tok.shape[1], device=tok.device).unsqueeze(0)
    return (pos >= 1) & (pos <= lengths.unsqueeze(1))


def mean_embedding(bb: Backbone, actions: torch.Tensor, lengths: torch.Tensor, pooling: str = "residues"
                   ) -> torch.Tensor:  # fmt: skip
    """Mean-pooled last-layer embedding ``[B, D]``.

    ``pooling="residues"``: over the residues 1..L (ImprovedReward, one sequence at a time).
    ``pooling="batch-padded"``: over token columns 1..T-2 of the padded batch, i.e. the
    residues plus, for sequences shorter than the batch's longest, their <eos> and <pad>
    positions (the published ``ESMBackbone``: ``token_embeddings[:, 1:-1].mean(1)``);
    this makes the value depend on the batch's longest sequence.
    """
    tok, h = bb(actions, lengths)  # [B, T], [B, T, D]
    if pooling == "residues":
        m = residue_mask(tok, lengths).unsqueeze(-1).float()
        return (h * m).sum(1) / m.sum(1).clamp(min=1)
    if pooling == "batch-padded":
        return h[:, 1:-1].mean(1)
    raise ValueError(f"pooling must be 'residues' or 'batch-padded', got {pooling!r}")


def naturalness(bb: Backbone, actions: torch.Tensor, lengths: torch.Tensor,
                temperature: float = EMBEDDING_TEMPERATURE) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """(``sigmoid(||mean embedding|| / temperature)``, the norm) ``[B]`` each; 0 below 3 residues (published)."""
    norm = mean_embedding(bb, actions, lengths, "residues").norm(dim=-1)
    nat = torch.sigmoid(norm / temperature)
    return torch.where(lengths >= 3, nat, torch.zeros_like(nat)), norm


def fast_pll(bb: Backbone, actions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``mean_i log p(x_i | x)`` ``[B]`` from ONE unmasked forward (residue i visible), softmax over the
    model's full vocabulary; -10 below 3 residues (published)."""
    tok, h = bb(actions, lengths)
    lp = bb.log_probs(h)  # [B, T, V]
    target = bb.vocab_id(tok.clamp(max=N_RES - 1))  # [B, T] (specials clamped; masked out below)
    per = lp.gather(-1, target.unsqueeze(-1)).squeeze(-1)  # [B, T]
    m = residue_mask(tok, lengths).float()
    s = (per * m).sum(1) / lengths.clamp(min=1).float()
    return torch.where(lengths >= 3, s, torch.full_like(s, -10.0))


# ---- the rewards ----------------------------------------------------------------------------
class _Published(Reward):
    """Shared plumbing: backbone, token checks, and the base of :meth:`describe`."""

    formula = ""
    published_as = ""

    def __init__(self, env: PeptideEnv, device: torch.device, checkpoint: str | None = None,
                 mlm_config: dict[str, Any] | None = None) -> None:  # fmt: skip
        super().__init__(env, device)
        self.backbone = shared_backbone(device, checkpoint, **(mlm_config or {}))

    def shared_model(self) -> Backbone:
        """The backbone: every published reward in a process with the same backbone config calls one."""
        return self.backbone

    def components(self, actions: torch.Tensor, lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every factor ``[B]`` and the raw score, without touching any state."""
        check_tokens(self.env, actions, lengths)
        with torch.no_grad():
            return self._components(actions.to(self.device), lengths.to(self.device))

    def _components(self, actions: torch.Tensor, lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def stand_ins(self) -> list[str]:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "formula": self.formula, "published_as": self.published_as,
                "backbone": self.backbone.source, "stand_ins": self.stand_ins()}  # fmt: skip


class _RunningNormalised(_Published):
    """Raw score -> running min-max (B, C). ``score(update=True)`` is the training call."""

    def __init__(self, env: PeptideEnv, device: torch.device, checkpoint: str | None = None,
                 mlm_config: dict[str, Any] | None = None, normalize: bool = True) -> None:  # fmt: skip
        super().__init__(env, device, checkpoint, mlm_config)
        self.normalize = bool(normalize)
        self.running = RunningMinMax()

    def score(self, actions: torch.Tensor, lengths: torch.Tensor, update: bool = False) -> torch.Tensor:
        raw = self.components(actions, lengths)["raw"]
        if not self.normalize:
            return raw
        return self.running(raw, update).float()

    def score_tokens(self, actions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.score(actions, lengths, update=False)

    def state_dict(self) -> dict[str, Any]:
        return {"running_minmax": self.running.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.running.load_state_dict(state["running_minmax"])

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "normalize": "running min-max over every training-batch raw score, "
                "(s - min)/(max - min) after > 10 scores, this batch included" if self.normalize else "none"}  # fmt: skip


@register("improved-published")
class ImprovedPublishedReward(_RunningNormalised):
    """reward-C as run: ``naturalness * entropy_gate * length_gate``, running min-max."""

    name = "improved-published"
    formula = ("minmax(sigmoid(||mean-pooled last-layer embedding|| / T) * sigmoid(10 (H/log 20 - 0.5)) "
               "* sigmoid(0.5 (L - 10))), T = 10")  # fmt: skip
    published_as = "gflownet_peptide/rewards/improved_reward.py ImprovedReward(normalize=True), --reward_type improved"

    def __init__(self, env: PeptideEnv, device: torch.device, checkpoint: str | None = None,
                 mlm_config: dict[str, Any] | None = None, normalize: bool = True,
                 embedding_temperature: float = EMBEDDING_TEMPERATURE, esm_model: str = "esm2_t6_8M_UR50D") -> None:  # fmt: skip
        super().__init__(env, device, checkpoint, mlm_config, normalize)
        if embedding_temperature <= 0:
            raise ValueError(f"embedding_temperature must be > 0, got {embedding_temperature}")
        self.temperature = float(embedding_temperature)
        self.esm_model = esm_model

    def _components(self, actions: torch.Tensor, lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        nat, norm = naturalness(self.backbone, actions, lengths, self.temperature)
        ent = composition_entropy(actions, lengths)
        eg = torch.sigmoid(ENTROPY_SHARPNESS * (ent - ENTROPY_THRESHOLD))
        lg = length_gate(lengths)
        return {"naturalness": nat, "embedding_norm": norm, "entropy": ent, "entropy_gate": eg,
                "length_gate": lg, "raw": nat * eg * lg}  # fmt: skip

    def stand_ins(self) -> list[str]:
        out = [f"naturalness: {backbone_stand_in(self.backbone, 'ESM-2 ' + self.esm_model)}; mean-pooled "
               "last-layer embedding norm as published, but the norm's scale is the stand-in's own"]  # fmt: skip
        if self.temperature != EMBEDDING_TEMPERATURE:
            out.append(f"embedding temperature {self.temperature:g} instead of the published {EMBEDDING_TEMPERATURE:g}")
        return out

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "embedding_temperature": self.temperature}


@register("esm2pll-published")
class ESM2PLLPublishedReward(_RunningNormalised):
    """reward-B as run: the "fast" PLL (one unmasked forward), running min-max."""

    name = "esm2pll-published"
    formula = "minmax(mean_i log p(x_i | x unmasked)), one forward, softmax over the full vocabulary"
    published_as = ("gflownet_peptide/rewards/esm2_reward.py ESM2Reward(normalize=True), __call__(fast=True), "
                    "--reward_type esm2_pll --esm_model esm2_t6_8M_UR50D")  # fmt: skip

    def _components(self, actions: torch.Tensor, lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"raw": fast_pll(self.backbone, actions, lengths)}

    def stand_ins(self) -> list[str]:
        return [f"language model: {backbone_stand_in(self.backbone, 'ESM-2 esm2_t6_8M_UR50D')}; softmax over its "
                f"{self.backbone.vocab_size}-token vocabulary (ESM-2: 33)"]  # fmt: skip


@register("trained-published")
class TrainedPublishedReward(_Published):
    """reward-A as run: ``stability * entropy_gate * length_gate * naturalness ** 0.5`` (no normalisation)."""

    name = "trained-published"
    formula = "p_stability * sigmoid(10 (H/log 20 - 0.5)) * sigmoid(0.5 (L - 10)) * naturalness ** 0.5"
    published_as = ("gflownet_peptide/rewards/composite_reward.py CompositeReward(weights stability 1, "
                    "naturalness 0.5), --reward_type trained --esm_model esm2_t6_8M_UR50D")  # fmt: skip

    def __init__(self, env: PeptideEnv, device: torch.device, checkpoint: str | None = None,
                 mlm_config: dict[str, Any] | None = None, classifier_config: dict[str, Any] | None = None,
                 embedding_temperature: float = EMBEDDING_TEMPERATURE) -> None:  # fmt: skip
        # the classifier first: on a cold cache it then trains while another worker trains the masked LM
        # (the backbone), instead of after it (the sweep warms each reward on its own worker)
        cfg = classifier.ClassifierConfig(**(classifier_config or {}))
        model, clf_metrics = classifier.load_or_train(cfg)
        super().__init__(env, device, checkpoint, mlm_config)
        self.cfg, self.clf_metrics = cfg, clf_metrics
        self.classifier = model.to(device).eval()
        self.temperature = float(embedding_temperature)

    def _components(self, actions: torch.Tensor, lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        stab = self.classifier(actions, lengths).float()
        nat, norm = naturalness(self.backbone, actions, lengths, self.temperature)
        eg = entropy_gate(actions, lengths)
        lg = length_gate(lengths)
        return {"stability": stab, "naturalness": nat, "embedding_norm": norm, "entropy_gate": eg,
                "length_gate": lg, "raw": stab * eg * lg * nat.sqrt()}  # fmt: skip

    def score_tokens(self, actions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.components(actions, lengths)["raw"]

    def stand_ins(self) -> list[str]:
        out = [f"stability: our AMP classifier p_AMP (MLP ensemble on descriptors, modlAMP AMP vs non-AMP, held-out "
               f"ROC-AUC {self.clf_metrics['heldout_roc_auc']:.3f}) instead of sigmoid(StabilityPredictor) trained on "
               "FLIP meltome over ESM-2 t6-8M embeddings",
               f"naturalness: {backbone_stand_in(self.backbone, 'ESM-2 esm2_t6_8M_UR50D')}"]  # fmt: skip
        if self.temperature != EMBEDDING_TEMPERATURE:
            out.append(f"embedding temperature {self.temperature:g} instead of the published {EMBEDDING_TEMPERATURE:g}")
        return out

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "embedding_temperature": self.temperature,
                "classifier": {"heldout_roc_auc": self.clf_metrics["heldout_roc_auc"], "config": asdict(self.cfg),
                               "cache_key": self.clf_metrics["cache_key"]}}  # fmt: skip


class RandomHead(nn.Sequential):
    """The published untrained head: Linear(D, 256) ReLU Linear(256, 256) ReLU Linear(256, 1), torch's default init."""

    def __init__(self, dim: int, hidden: int = 256) -> None:
        super().__init__(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))


@register("baseline-published")
class BaselinePublishedReward(_Published):
    """baseline as run: untrained heads on the mean-pooled embedding, a fixed random function (no clamping)."""

    name = "baseline-published"
    formula = "exp(MLP_s(e)) * softplus(MLP_b(e)) * sigmoid(MLP_n(e)) ** 0.5, e = mean-pooled embedding, heads untrained"
    published_as = ("gflownet_peptide/models/reward_model.py CompositeReward(share_backbone=True, weights 1, 1, 0.5), "
                    "--config configs/default.yaml (esm_model esm2_t33_650M_UR50D)")  # fmt: skip

    def __init__(self, env: PeptideEnv, device: torch.device, checkpoint: str | None = None,
                 mlm_config: dict[str, Any] | None = None, seed: int = 42, pooling: str = "batch-padded") -> None:  # fmt: skip
        super().__init__(env, device, checkpoint, mlm_config)
        if pooling not in ("batch-padded", "residues"):
            raise ValueError(f"pooling must be 'batch-padded' or 'residues', got {pooling!r}")
        self.seed = int(seed)
        self.pooling = pooling
        with torch.random.fork_rng(devices=[]):  # never disturb the caller's random stream
            torch.manual_seed(self.seed)
            heads = [RandomHead(self.backbone.dim) for _ in range(3)]  # stability, binding, naturalness (published order)
        self.heads = nn.ModuleList(heads).to(device).eval().requires_grad_(False)

    def _components(self, actions: torch.Tensor, lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        e = mean_embedding(self.backbone, actions, lengths, self.pooling)  # [B, D]
        s, b, n = (h(e).squeeze(-1).float() for h in self.heads)
        stab, bind, nat = s.exp(), F.softplus(b), torch.sigmoid(n)
        return {"stability": stab, "binding": bind, "naturalness": nat, "raw": stab * bind * nat.sqrt()}

    def score_tokens(self, actions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.components(actions, lengths)["raw"]

    def stand_ins(self) -> list[str]:
        return [f"embedding: {backbone_stand_in(self.backbone, 'ESM-2 esm2_t33_650M_UR50D (1280-dim)')}",
                f"untrained heads: torch default init under our seed {self.seed} on {self.backbone.dim}-dim input, "
                "not the published weights (seed 42, drawn after the policy's init, on 1280-dim input)"]  # fmt: skip

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "seed": self.seed, "pooling": self.pooling,
                "bounds": "none in the published code (R = exp * softplus * sigmoid^0.5 is unbounded above); "
                "log_reward clamps to [0, 1] (eps given) or [1e-6, 1]"}  # fmt: skip


__all__ = [
    "BaselinePublishedReward",
    "ESM2PLLPublishedReward",
    "ImprovedPublishedReward",
    "RunningMinMax",
    "TrainedPublishedReward",
    "composition_entropy",
    "entropy_gate",
    "fast_pll",
    "length_gate",
    "mean_embedding",
    "naturalness",
    "shared_backbone",
]
