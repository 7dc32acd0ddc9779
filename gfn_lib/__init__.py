"""gfn_lib: a small, fast Trajectory Balance trainer for peptide GFlowNets.

Modules are concepts: ``env`` (sequences, masks), ``policy`` (causal Transformer
with a KV cache), ``losses`` (TB, SubTB, log-partition variance), ``rewards``
(registry of R(x)), ``config`` (one typed config), ``trainer`` (the loop,
checkpoints, resume), ``metrics`` (durable metrics files).
"""

__version__ = "0.1.0"
