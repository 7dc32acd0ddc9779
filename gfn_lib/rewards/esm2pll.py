"""reward-B-esm2pll: ESM-2-style pseudo-log-likelihood mapped to (0, 1].

``p(x) = PLL(x) / L`` (mean over residues of ``log p(x_i | x_{-i})``, see
:mod:`gfn_lib.rewards.mlm`). Transform (documented, monotone, smooth)::

    R_B(x) = sigmoid((p(x) - m) / s),   m = (mu_nat + mu_rand) / 2,   s = (mu_nat - mu_rand) / 4

with ``mu_nat`` the mean per-residue PLL of held-out natural peptides (first
30 residues) and ``mu_rand`` that of 512 uniform random peptides of length
10-30, both measured under the same model at training/loading time. So a
typical natural peptide scores sigmoid(2) = 0.88 and a typical random one
sigmoid(-2) = 0.12. Masked LMs give low-complexity repeats very high PLL, so
this reward alone is degenerate (the memo's reward-B run collapsed at once).

Model: a local ESM-2 checkpoint when configured (option ``checkpoint`` or env
var ``GFN_ESM2_CHECKPOINT``, e.g. facebook/esm2_t6_8M_UR50D saved locally;
needs ``transformers``), otherwise the in-project ESM-style MLM.
:meth:`describe` records which. Scores are cached per sequence in memory
(PLL is the expensive part: L masked copies per sequence).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from gfn_lib.env import PeptideEnv
from gfn_lib.rewards import cache, data, mlm
from gfn_lib.rewards.base import Reward, register

CHECKPOINT_ENV = "GFN_ESM2_CHECKPOINT"
"""Environment variable naming a local ESM-2 checkpoint directory."""


def _checkpoint_fingerprint(path: Path) -> str:
    """Hash of file names, sizes and mtimes under a checkpoint directory."""
    h = hashlib.sha256(str(path.resolve()).encode())
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        st = f.stat()
        h.update(f"{f.relative_to(path)}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


class PLLScorer:
    """Batched, sequence-cached per-residue PLL and its calibration anchors."""

    def __init__(self, device: torch.device, checkpoint: str | None = None, max_cache: int = 500_000,
                 max_rows: int = 4096, pll_stride: int | None = None, **mlm_config: Any) -> None:  # fmt: skip
        self.device = device
        self.pll_stride = pll_stride
        self.max_cache = max_cache
        self.max_rows = max_rows
        self._cache: dict[bytes, float] = {}
        self.hits = self.misses = 0
        checkpoint = checkpoint or os.environ.get(CHECKPOINT_ENV) or None
        cfg = mlm.MLMConfig(**mlm_config)
        if checkpoint:
            path = Path(checkpoint)
            self.model: torch.nn.Module = mlm.HFEsmAdapter(path)
            key = cache.cache_key("esm2-calibration", ckpt=_checkpoint_fingerprint(path),
                                  data=data.data_fingerprint(data.CORPUS_SETS), cfg=asdict(cfg))  # fmt: skip
            entry = cache.load_entry(key)
            if entry is None:
                corpus = data.load_corpus()
                folds = data.grouped_folds(corpus, cfg.heldout_folds, 8, cfg.seed)
                heldout = [s for s, f in zip(corpus, folds) if f == 0]
                entry = {"metrics": mlm.calibrate(self.model, heldout, cfg)}
                cache.save_entry(key, entry)
            self.metrics = {**entry["metrics"], "cache_key": key}
            self.source = {"model": "ESM-2 checkpoint (transformers EsmForMaskedLM)", "checkpoint": str(path)}
        else:
            self.model, self.metrics = mlm.load_or_train(cfg)
            self.source = {
                "model": "in-project ESM-style MLM (ESM-2 architecture, trained on modlAMP sequences)",
                "config": asdict(cfg),
                "n_params": self.metrics["n_params"],
                "cache_key": self.metrics["cache_key"],
                "note": "real ESM-2 weights not configured (set checkpoint= or $GFN_ESM2_CHECKPOINT)",
            }
        self.model = self.model.to(device).eval()
        if pll_stride is not None:  # re-anchor the transform under the same approximation
            corpus = data.load_corpus()
            folds = data.grouped_folds(corpus, cfg.heldout_folds, 8, cfg.seed)
            heldout = [s for s, f in zip(corpus, folds) if f == 0]
            self.metrics = {**self.metrics, **mlm.calibrate(self.model.cpu(), heldout, cfg, stride=pll_stride)}
            self.model = self.model.to(device)
        mu_nat = self.metrics["natural_pll_per_residue_mean"]
        mu_rand = self.metrics["random_pll_per_residue_mean"]
        if not mu_nat > mu_rand:
            raise RuntimeError(f"model does not prefer natural peptides (nat {mu_nat:.3f} <= random {mu_rand:.3f})")
        self.centre = (mu_nat + mu_rand) / 2
        self.scale = (mu_nat - mu_rand) / 4

    def per_residue(self, actions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``PLL(x) / L`` ``[B]`` (float32 on the reward device); computes only uncached rows."""
        rows = actions.detach().to("cpu", torch.uint8).numpy()
        ns = lengths.tolist()
        keys = [rows[i, :n].tobytes() for i, n in enumerate(ns)]
        missing = [i for i, k in enumerate(keys) if k not in self._cache]
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        if missing:
            idx = torch.tensor(missing, device=actions.device)
            pll = mlm.pseudo_log_likelihood(self.model, actions[idx], lengths[idx], self.max_rows, self.pll_stride)  # [M]
            values = (pll / lengths[idx].clamp(min=1)).tolist()
            if len(self._cache) + len(missing) > self.max_cache:
                self._cache.clear()
            for i, v in zip(missing, values):
                self._cache[keys[i]] = v
        return torch.tensor([self._cache[k] for k in keys], dtype=torch.float32, device=self.device)

    def naturalness(self, per_residue: torch.Tensor) -> torch.Tensor:
        """``sigmoid((p - m) / s)`` ``[B]`` (module docstring)."""
        return torch.sigmoid((per_residue - self.centre) / self.scale)

    def describe(self) -> dict[str, Any]:
        return {
            **self.source,
            "transform": "sigmoid((PLL/L - m)/s), m=(mu_nat+mu_rand)/2, s=(mu_nat-mu_rand)/4",
            "pll": "exact (one masked copy per residue)" if self.pll_stride is None
            else f"strided approximation: {self.pll_stride} masked copies per sequence",
            "centre_m": self.centre,
            "scale_s": self.scale,
            "heldout_pll_per_residue": self.metrics.get("heldout_pll_per_residue"),
            "unigram_per_residue": self.metrics.get("unigram_per_residue"),
        }


_SCORERS: dict[tuple[Any, ...], PLLScorer] = {}


def shared_scorer(device: torch.device, checkpoint: str | None = None, pll_stride: int | None = None,
                  **mlm_config: Any) -> PLLScorer:  # fmt: skip
    """One :class:`PLLScorer` per (device, checkpoint, stride, config) per process (B and C share its cache)."""
    key = (str(device), checkpoint or os.environ.get(CHECKPOINT_ENV) or None, pll_stride,
           tuple(sorted(mlm_config.items())))  # fmt: skip
    if key not in _SCORERS:
        _SCORERS[key] = PLLScorer(device, checkpoint, pll_stride=pll_stride, **mlm_config)
    return _SCORERS[key]


@register("esm2pll")
class ESM2PLLReward(Reward):
    """``sigmoid((PLL/L - m) / s)`` under ESM-2 or the in-project ESM-style MLM."""

    name = "esm2pll"

    def __init__(self, env: PeptideEnv, device: torch.device, checkpoint: str | None = None,
                 pll_stride: int | None = None, **mlm_config: Any) -> None:  # fmt: skip
        super().__init__(env, device)
        self.scorer = shared_scorer(device, checkpoint, pll_stride, **mlm_config)

    def score_tokens(self, actions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if bool(((actions < 0) | (actions >= self.env.vocab_size)).masked_select(
                torch.arange(actions.shape[1], device=actions.device) < lengths.unsqueeze(1)).any()):  # fmt: skip
            raise ValueError(f"residue ids must be in [0, {self.env.vocab_size}) within lengths")
        return self.scorer.naturalness(self.scorer.per_residue(actions, lengths))  # [B]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, **self.scorer.describe(), "stand_in_for": "the memo's reward-B-esm2pll"}
