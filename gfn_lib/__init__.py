"""gfn_lib: a small, fast Trajectory Balance trainer for peptide GFlowNets, and the study around it.

Modules are concepts. The training core: ``env`` (sequences, masks), ``policy`` (causal
Transformer with a KV cache), ``losses`` (TB, SubTB, log-partition variance), ``rewards``
(registry of R(x)), ``config`` (one typed config), ``trainer`` (the loop, checkpoints, resume),
``storage`` (atomic writes, crash-safe metrics files), ``metrics`` (exact evaluation of a
sampler on enumerable spaces). The study: ``study`` (run specs, run folders, execution),
``sweep`` (Dask), ``tracking`` (wandb), ``cli`` (``gfn-study``). The report: ``analysis``
(reading curves with stated rules), ``memo`` (tables, verdicts, sentences), ``plots``, ``report``.

The training loop: ``notebooks/train.ipynb`` -> ``study.notebook.make_trainer`` ->
``Trainer.train`` -> ``Trainer.train_step`` (``gfn_lib/trainer.py``).
"""

__version__ = "0.1.0"
