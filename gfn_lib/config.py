"""One typed training configuration: the single source of defaults.

Defaults are the memo's "Training Configuration" table (lr 3e-4, batch 64,
warmup 1000, 4 layers x 256 dim x 8 heads, lengths 10-30, 21 actions, entropy
0.01). Each field carries its docstring. Load from YAML with :func:`load_config`;
every problem (unknown key, wrong type, out-of-range value, malformed YAML) is a
:class:`ConfigError` whose one-line message names the file and the field, raised
before anything runs or is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gfn_lib.env import AMINO_ACIDS, PeptideEnv


class ConfigError(ValueError):
    """Invalid configuration; the message is one line naming source and field."""


class TrainConfig(BaseModel):
    """Everything that determines a training run (cleanrl style: one flat, documented config)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_attribute_docstrings=True, frozen=True)

    # --- reproducibility ---------------------------------------------------------------
    seed: int = 0
    """Seeds model init, sampling and everything random in the run."""

    # --- environment -------------------------------------------------------------------------
    alphabet: str = AMINO_ACIDS
    """Residue letters (one action each); STOP is added as the last action."""
    min_len: int = Field(10, ge=1)
    """Fewest residues: STOP is masked before this length."""
    max_len: int = Field(30, ge=1, le=512)
    """Most residues."""
    stop_action_at_max_len: bool = True
    """``True``: a sequence that reaches ``max_len`` still takes a (forced, probability-1) STOP action,
    so every trajectory has length + 1 actions. ``False`` (published): it ends without one, so it has
    ``max_len`` actions. log P_F is the same either way (the forced STOP has log-probability 0); the
    action count (``mean_actions``, ``log_pf_per_action``) and the entropy average differ."""

    # --- policy (causal Transformer) --------------------------------------------------------
    n_layers: int = Field(4, ge=1)
    """Transformer blocks."""
    d_model: int = Field(256, ge=8)
    """Embedding width; must be divisible by ``n_heads``."""
    n_heads: int = Field(8, ge=1)
    """Attention heads."""
    dropout: float = Field(0.0, ge=0, lt=1)
    """Dropout on embeddings + positions, attention weights, attention output and the feed-forward
    (as ``nn.TransformerEncoderLayer``). Active while sampling and scoring (the policy stays in train
    mode), so log P_F is itself noisy. Published setup: 0.1."""
    dropout_scoring: Literal["fresh", "sampling", "recompute"] = "fresh"
    """With dropout, the masks of the scoring pass that gives the loss its log P_F. ``fresh``: masks of its
    own, drawn independently of the sampler's. ``sampling``: the masks the sampler drew, so each step's
    log P_F is the probability its action was sampled with, as the published sampler's log-probabilities
    were; but that sampler redrew the whole prefix's masks at every step, while the KV cache keeps each
    position's masks, so one dropout sub-network samples and scores a whole trajectory. At 1/60 (3 seeds,
    commit c9aa534) ``sampling`` made the trapped reward-C policy far more confident than the published one
    (mean log P_F -13.6 to -14.9 at memo step 6,000, published -20.7), and in the ablation run with a
    prediction (``params/ablation-dropout-scoring-sampling.yaml``, commit c8e1610) it held the trap to the
    end in 3 of 3 seeds, which escaped with fresh masks; ``fresh`` is the default. ``recompute``: the
    published sampler itself (:meth:`~gfn_lib.policy.PolicyStack.sample_recomputing`): no KV cache, each
    position one forward pass over the whole prefix with masks of its own, the action drawn and scored by
    that pass; about T / 2 = 15 times the policy work of a step (no CUDA graph): 8.2-8.8 against 1.03-1.06 s
    a step at the cpu profile on one thread, ~4.6 GB per run. At 1/60 it held the trap to the end in 3 of 3
    seeds (``params/ablation-dropout-scoring-recompute.yaml``, commit 20dd3e5), as ``sampling`` did."""
    init: Literal["normal", "xavier"] = "normal"
    """Weight init. ``normal``: N(0, 0.02) on every matrix, zero biases (nanoGPT; starts near uniform).
    ``xavier``: Xavier-uniform on every parameter with >= 2 dims, PyTorch's default biases (the published
    setup; starts far from uniform, about -2.2 nats per action instead of -3.0)."""
    final_layernorm: bool = True
    """LayerNorm between the last block and the action head (pre-LN convention). The published policy
    has none (``nn.TransformerEncoder`` without ``norm``)."""
    positions: Literal["learned", "sinusoidal"] = "learned"
    """Position encoding: a learned table, or the fixed sinusoids of Vaswani et al. (published)."""
    init_nudge: int = Field(0, ge=0)
    """``0``: the weights as initialised. ``k >= 1``: then every nonzero policy weight moves one float32 step
    (one unit in the last place, ~1e-7 of its value) up or down, the directions drawn from a generator seeded
    with ``k``, not with ``seed``: a perturbation the size of another CPU's rounding. It asks whether a
    seed's trap and escape are the seed's or the rounding's (``ablation-init-nudge-*``)."""

    # --- objective --------------------------------------------------------------------------
    loss: Literal["tb", "subtb", "logvar"] = "tb"
    """``tb``: Trajectory Balance; ``subtb``: SubTB(lambda) with a state-flow head;
    ``logvar``: log-partition variance (VarGrad), no learned log_Z."""
    subtb_lambda: float = Field(0.9, gt=0)
    """SubTB geometric weight lambda: sub-trajectories of length k weigh lambda**k."""
    entropy_weight: float = Field(0.01, ge=0)
    """Weight w of the exploration term (its form: ``entropy_term``)."""
    entropy_term: Literal["entropy-bonus", "log-pf-penalty"] = "entropy-bonus"
    """``entropy-bonus``: the optimised loss is ``gfn_loss - w * H`` with H the mean per-step entropy of
    pi (pushes towards exploration). ``log-pf-penalty`` (the published phase3b "entropy_reg"):
    ``gfn_loss - w * mean(sum_t log P_F)``; on-policy its expected gradient is zero, so it adds noise,
    not exploration."""

    # --- reward ------------------------------------------------------------------------------
    reward: str = "baseline"
    """Name in ``gfn_lib.rewards.available()``."""
    reward_options: dict[str, Any] = Field(default_factory=dict)
    """Keyword options passed to ``gfn_lib.rewards.load``."""
    reward_exponent: float = Field(1.0, gt=0)
    """beta: the GFlowNet targets R(x)**beta (log R is multiplied by beta)."""
    log_reward_eps: float | None = Field(None, gt=0)
    """``None``: log R = log(clamp(R, 1e-6, 1)). A number eps: log R = log(R + eps) with R in [0, 1]
    (published: 1e-8, so a reward of exactly 0 gives log R = -18.4)."""
    length_penalty: float = Field(0.0, ge=0)
    """Per-residue log-reward penalty: log R'(x) = beta * log R(x) - length_penalty * len(x).
    0 = none (the memo states none). ln(20) ~= 3.0 cancels the 20**L growth of the
    number of sequences with length, so the target no longer piles up at max_len."""

    # --- log Z ------------------------------------------------------------------------------
    log_z_init: float = 0.0
    """Initial value of the learnable log Z (TB) / log F(s0) (SubTB)."""
    log_z_lr: float | None = Field(None, gt=0)
    """Learning rate of the log Z parameter group; ``None`` = same as ``lr``
    (the memo's single learning rate). GFlowNet libraries use 10-1000x ``lr``."""

    # --- optimisation ------------------------------------------------------------------------
    optimizer: Literal["adam", "adamw"] = "adam"
    """``adam``: Adam (``weight_decay`` as an L2 term in the gradient); ``adamw``: AdamW (decoupled weight
    decay; published). Either way log Z gets no weight decay."""
    weight_decay: float = Field(0.0, ge=0)
    """Weight decay of the policy's parameter group (published: 0.01 with AdamW)."""
    lr: float = Field(3e-4, gt=0)
    """Learning rate of the policy."""
    lr_schedule: Literal["linear-warmup", "constant-then-cosine"] = "linear-warmup"
    """Every group's lr over the run (see :func:`gfn_lib.trainer.get_lr`). ``linear-warmup``: ramp from
    ~0 over ``warmup_steps``, then constant. ``constant-then-cosine`` (published): constant for
    ``warmup_steps``, then cosine from the base lr to 0 at ``n_steps``."""
    warmup_steps: int = Field(1000, ge=0)
    """Length of the first phase of ``lr_schedule``."""
    batch_size: int = Field(64, ge=1)
    """Trajectories sampled per update."""
    n_steps: int = Field(10_000, ge=1)
    """Gradient updates."""
    grad_clip: float | None = Field(None, gt=0)
    """Clip the global gradient norm of the policy to this value; ``None`` = off."""

    # --- exploration (sampling only; log P_F is always recomputed under the policy) -------------
    temperature: float = Field(1.0, gt=0)
    """Sampling temperature applied to the logits."""
    epsilon: float = Field(0.0, ge=0, le=1)
    """Epsilon-uniform exploration: mix this much of the uniform distribution over legal actions."""

    # --- runtime -----------------------------------------------------------------------------
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """``auto``: CUDA when present, else CPU."""
    bf16: bool = False
    """bf16 autocast on CUDA for the training forward (ignored on CPU)."""
    compile: bool = False
    """``torch.compile`` the training forward (CUDA only; pays a one-off compile; implies ``static_shapes``)."""
    static_shapes: bool = False
    """Fixed shapes in every step: the sampler decodes all ``max_len + 1`` positions with masking instead
    of stopping once every sequence has ended, and scoring does not trim padding columns (what CUDA
    graphs and ``torch.compile(mode="reduce-overhead")`` need). Same numbers as the early-stopping path
    (to float rounding); on CPU the early-stopping path is faster while sequences are short."""
    cuda_graph: bool = True
    """On CUDA, capture the sampler's decode loop once as a CUDA graph and replay it each step (implies
    ``static_shapes`` there; same numbers as the eager static loop): a GPU step of the memo's policy was
    bound by the loop's ~3,000 kernel launches (README, "On a GPU"). Ignored on CPU."""
    cuda_graph_training: bool = True
    """With ``cuda_graph``, also capture the training half of the step (scoring pass, losses, backward pass,
    clipping, every run's optimiser step) as one CUDA graph: its ~1,000 launches a stacked step were what the
    CPU still spent (README, "On a GPU"). The optimisers then run ``capturable`` (learning rates and step
    counts on the device: the same update, rounded on the device). The first two steps after each capture
    run eagerly. Not with ``bf16``, ``compile`` or ``dropout_scoring: recompute``. Ignored on CPU."""
    metrics_every: int = Field(25, ge=1)
    """Flush buffered metric rows to ``metrics.csv`` every this many steps."""
    checkpoint_every: int = Field(100, ge=1)
    """Write a resumable checkpoint every this many steps (a kill loses at most this many)."""
    top_k: int = Field(10, ge=0)
    """Top sequences (by reward) of the batch recorded in ``samples.csv``."""
    top_k_every: int = Field(250, ge=1)
    """Record the top-k sequences every this many steps."""
    wandb_mode: Literal["offline", "online", "disabled"] = "offline"
    """Weights & Biases: ``offline`` writes locally (``wandb sync`` later), ``disabled`` turns it off."""

    @field_validator("alphabet")
    @classmethod
    def _unique_letters(cls, v: str) -> str:
        if not v or len(set(v)) != len(v):
            raise ValueError("must be non-empty and have no repeated letters")
        return v

    @field_validator("reward")
    @classmethod
    def _known_reward(cls, v: str) -> str:
        from gfn_lib import rewards

        if v not in rewards.available():
            raise ValueError(f"unknown reward {v!r} (available: {', '.join(rewards.available())})")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        if self.min_len > self.max_len:
            raise _FieldError("min_len", f"min_len={self.min_len} > max_len={self.max_len}")
        if self.lr_schedule == "constant-then-cosine" and self.warmup_steps >= self.n_steps:
            raise _FieldError("warmup_steps", f"warmup_steps={self.warmup_steps} must be < n_steps={self.n_steps} for a cosine phase")
        if self.d_model % self.n_heads:
            raise _FieldError("d_model", f"d_model={self.d_model} not divisible by n_heads={self.n_heads}")
        return self

    # --- derived ---------------------------------------------------------------------------
    @property
    def env(self) -> PeptideEnv:
        return PeptideEnv(self.alphabet, self.min_len, self.max_len, self.stop_action_at_max_len)

    @property
    def stack_key(self) -> tuple[Any, ...]:
        """What runs must share to be trained as one stack (:func:`gfn_lib.trainer.train_steps`): the
        environment, the policy's shape and layout, the loss's heads, the batch and the runtime."""
        return tuple(getattr(self, name) for name in STACK_FIELDS)

    @property
    def effective_log_z_lr(self) -> float:
        return self.lr if self.log_z_lr is None else self.log_z_lr

    @classmethod
    def field_docs(cls) -> dict[str, str]:
        """``{field: docstring}`` for help texts and the README."""
        return {name: (f.description or "") for name, f in cls.model_fields.items()}


STACK_FIELDS = (
    "alphabet", "min_len", "max_len", "stop_action_at_max_len", "n_layers", "d_model", "n_heads", "dropout",
    "dropout_scoring", "positions", "final_layernorm", "loss", "batch_size", "device", "bf16", "compile", "static_shapes",
    "cuda_graph", "cuda_graph_training",
)  # fmt: skip
"""Fields of :attr:`TrainConfig.stack_key`; every other field (seed, lr, log Z, reward, ...) may differ."""


class _FieldError(ValueError):
    def __init__(self, field: str, msg: str):
        super().__init__(msg)
        self.field = field


def _one_line(err: ValidationError | _FieldError, source: str) -> str:
    if isinstance(err, _FieldError):
        return f"{source}: field '{err.field}': {err}"
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "?"
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown field"
    elif "input" in first and first["type"] not in ("missing",):
        msg = f"{msg} (got {first['input']!r})"
    more = f" (+{len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    return f"{source}: field '{loc}': {msg}{more}".replace("\n", " ")


def make_config(values: dict[str, Any], source: str = "<config>") -> TrainConfig:
    """Validate a dict of fields; raise :class:`ConfigError` naming ``source`` and the field."""
    try:
        return TrainConfig(**values)
    except ValidationError as err:
        # a model-level error wraps our _FieldError: surface its field name
        ctx = err.errors()[0].get("ctx", {}).get("error")
        if isinstance(ctx, _FieldError):
            raise ConfigError(_one_line(ctx, source)) from None
        raise ConfigError(_one_line(err, source)) from None


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; :class:`ConfigError` (one line, naming the file) if missing or malformed."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: malformed YAML{where}: {getattr(err, 'problem', err)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of field: value, got {type(data).__name__}")
    return data


def load_config(path: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """Defaults <- YAML file <- keyword overrides, validated together."""
    values: dict[str, Any] = read_yaml(path) if path is not None else {}
    values.update(overrides)
    return make_config(values, source=str(path) if path is not None else "<overrides>")
