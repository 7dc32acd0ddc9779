"""reward-A's proxy: an AMP-vs-non-AMP classifier on torch descriptors.

Model: :class:`~gfn_lib.rewards.features.PeptideFeatures` -> z-scoring (train
statistics) -> MLP (GELU, dropout) -> logit; ``p(AMP) = sigmoid(logit)``,
averaged over a small seed ensemble (mean of probabilities), which smooths the
reward surface the GFlowNet climbs.

Data: modlAMP ``AMPvsUniProt`` + ``AMPvsTM`` (AMP = 1; UniProt and
transmembrane segments = 0), cleaned by :mod:`gfn_lib.rewards.data`.
Evaluation: 5-fold cross-validated ROC-AUC with folds grouped by shared 8-mers
(sequences sharing an 8-mer are always on the same side); the mean over folds
is the reported held-out AUC (single folds range ~0.90-0.96, so one split is
too noisy to report). The deployed model is then retrained on all data with
the same recipe. Training
is full-batch AdamW, deterministic (fixed seeds, deterministic algorithms,
float32 on CPU) and takes seconds; results are cached by data fingerprint,
code version and hyperparameters (:mod:`gfn_lib.rewards.cache`).
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from gfn_lib.env import PeptideEnv
from gfn_lib.rewards import cache, data, features


@dataclass(frozen=True)
class ClassifierConfig:
    """Hyperparameters of the AMP classifier (all part of the cache key)."""

    sets: tuple[str, ...] = data.AMP_SETS
    hidden: int = 64
    depth: int = 2
    dropout: float = 0.3
    lr: float = 3e-3
    weight_decay: float = 0.1
    epochs: int = 300
    ensemble: int = 3
    seed: int = 0
    n_folds: int = 5
    split_k: int = 8
    threads: int = 1
    """Torch CPU threads while training (1 is fastest for these tiny matrices)."""


class MLP(nn.Module):
    """z-scored features ``[B, F]`` -> logit ``[B]``."""

    def __init__(self, n_in: int, hidden: int, depth: int, dropout: float) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_in
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.GELU(), nn.Dropout(dropout)]
            width = hidden
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).squeeze(-1)  # [B]


class AMPClassifier(nn.Module):
    """``(actions [B, L], lengths [B]) -> p(AMP) [B]`` (ensemble mean of sigmoids)."""

    def __init__(self, cfg: ClassifierConfig, feat: features.PeptideFeatures | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.features = feat or features.PeptideFeatures()
        f = self.features.n_features
        self.register_buffer("mean", torch.zeros(f))
        self.register_buffer("std", torch.ones(f))
        self.members = nn.ModuleList(MLP(f, cfg.hidden, cfg.depth, cfg.dropout) for _ in range(cfg.ensemble))

    def logits_from_features(self, x: torch.Tensor) -> torch.Tensor:
        """``x [B, F]`` -> member logits ``[E, B]``."""
        z = (x - self.mean) / self.std  # [B, F]
        return torch.stack([m(z) for m in self.members])  # [E, B]

    def forward(self, actions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = self.features(actions, lengths)  # [B, F]
        return torch.sigmoid(self.logits_from_features(x)).mean(0)  # [B]


def roc_auc(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """ROC-AUC as the Mann-Whitney U statistic (average ranks for ties)."""
    s = scores.double()
    order = s.argsort()
    ranks = torch.empty_like(s)
    ranks[order] = torch.arange(1, len(s) + 1, dtype=s.dtype)
    uniq, inv = s.unique(return_inverse=True)  # average ranks over ties
    sums = torch.zeros(len(uniq), dtype=s.dtype).index_add_(0, inv, ranks)
    cnts = torch.zeros(len(uniq), dtype=s.dtype).index_add_(0, inv, torch.ones_like(s))
    ranks = (sums / cnts)[inv]
    pos = labels.bool()
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _fit(cfg: ClassifierConfig, x: torch.Tensor, y: torch.Tensor, feat: features.PeptideFeatures) -> AMPClassifier:
    """Full-batch AdamW on features ``x [N, F]``, labels ``y [N]`` (deterministic)."""
    torch.manual_seed(cfg.seed)
    model = AMPClassifier(cfg, feat)
    model.mean.copy_(x.mean(0))
    model.std.copy_(x.std(0).clamp(min=1e-6))
    z = (x - model.mean) / model.std  # [N, F]
    pos_weight = (y == 0).sum() / (y == 1).sum().clamp(min=1)
    for e, member in enumerate(model.members):
        torch.manual_seed(cfg.seed * 1000 + e)
        for p in member.parameters():  # re-draw each member from its own seed
            if p.dim() > 1:
                nn.init.kaiming_uniform_(p, a=5**0.5)
            else:
                nn.init.zeros_(p)
        opt = torch.optim.AdamW(member.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.epochs)
        member.train()
        for _ in range(cfg.epochs):
            opt.zero_grad(set_to_none=True)
            loss = nn.functional.binary_cross_entropy_with_logits(member(z), y.float(), pos_weight=pos_weight)
            loss.backward()
            opt.step()
            sched.step()
        member.eval()
    return model.eval()


def train(cfg: ClassifierConfig = ClassifierConfig()) -> tuple[AMPClassifier, dict[str, Any]]:
    """8-mer-grouped k-fold cross-validation, then a fit on all data.

    Returns the all-data model (on CPU) and metrics: mean and per-fold held-out
    ROC-AUC, the AUC of length alone (the confound), data counts, seconds.
    """
    t0 = time.perf_counter()
    env = PeptideEnv()
    ds = data.load_labelled(cfg.sets)
    feat = features.PeptideFeatures(env.alphabet)
    threads = torch.get_num_threads()
    det = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        torch.set_num_threads(cfg.threads)
        a, l = env.encode(ds.sequences, check_length=False)
        with torch.no_grad():
            x = feat(a, l)  # [N, F]
        y = torch.tensor(ds.labels)  # [N]
        folds = torch.tensor(data.grouped_folds(ds.sequences, cfg.n_folds, cfg.split_k, cfg.seed))  # [N]
        fold_auc: list[float] = []
        length_auc: list[float] = []
        for k in range(cfg.n_folds):
            tr, te = folds != k, folds == k
            held = _fit(cfg, x[tr], y[tr], feat)
            with torch.no_grad():
                p_te = torch.sigmoid(held.logits_from_features(x[te])).mean(0)  # [N_te]
            fold_auc.append(roc_auc(p_te, y[te]))
            length_auc.append(roc_auc(-l[te].double(), y[te]))  # shorter = AMP, length alone
        model = _fit(cfg, x, y, feat)
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(det)
    metrics = {
        "heldout_roc_auc": sum(fold_auc) / len(fold_auc),
        "heldout_roc_auc_folds": fold_auc,
        "heldout_roc_auc_length_only": sum(length_auc) / len(length_auc),
        "split": f"{cfg.n_folds}-fold, grouped by shared {cfg.split_k}-mers",
        "n_sequences": len(ds.sequences),
        "n_amp": int(sum(ds.labels)),
        "n_duplicate_rows": ds.n_duplicate_rows,
        "n_conflicting_dropped": ds.n_conflicting,
        "train_seconds": time.perf_counter() - t0,
    }
    return model, metrics


def cache_key(cfg: ClassifierConfig) -> str:
    """Key from data fingerprint + code version (data, features, this module) + config."""
    return cache.cache_key(
        "amp-classifier",
        data=data.data_fingerprint(cfg.sets),
        code=cache.code_version(data, features, sys.modules[__name__]),
        torch=torch.__version__.split("+")[0],
        cfg=asdict(cfg),
    )


def load_or_train(cfg: ClassifierConfig = ClassifierConfig()) -> tuple[AMPClassifier, dict[str, Any]]:
    """The cached model for ``cfg`` (trained and stored on a miss) and its metrics."""
    return cache.load_or_build_model(cache_key(cfg), lambda: AMPClassifier(cfg), lambda: train(cfg), asdict(cfg))  # type: ignore[return-value]
