"""Process settings (gfn_lib.runtime): keeping freed memory removes the page faults of each step's fresh
tensors and changes no number."""

import json
import os
import platform
import subprocess
import sys

import pytest

# Two stacked runs of the published setup at the small benchmark shape take a few steps; the script
# prints the minor page faults of the median step and the last step's losses. Mode "default" replaces the call a
# Trainer makes with a no-op, so the process runs with glibc's defaults (no MALLOC_* settings inherited).
SCRIPT = """
import json, resource, sys
import gfn_lib.trainer
from gfn_lib.config import make_config
from gfn_lib.study.specs import load_setup
from gfn_lib.trainer import Trainer, train_steps
if sys.argv[1] == "default":
    gfn_lib.trainer.keep_freed_memory = lambda: False
base = {**load_setup("published", "test"), "reward": "table", "wandb_mode": "disabled", "n_layers": 2,
        "d_model": 64, "n_heads": 4, "device": "cpu"}
trainers = [Trainer(make_config({**base, "seed": s})) for s in (0, 1)]
for _ in range(3):
    train_steps(trainers)
faults = []
for _ in range(8):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    rows = train_steps(trainers)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps({"faults": sorted(faults)[4], "losses": [r["loss"] for r in rows]}))  # median step
"""


def _run(mode: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_TUNABLES"))}
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, check=True,
                         env={**env, "OMP_NUM_THREADS": "1"})  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_kept_freed_memory_removes_most_page_faults_and_changes_no_number():
    """Steps of two stacked runs hardly fault once freed memory is kept, and their losses are unchanged."""
    default, kept = _run("default"), _run("kept")
    # the median step: without the setting ~2,000-3,000 faults here (glibc's adaptive thresholds make that vary,
    # and it can settle low); with it 2-3, or ~400 in some processes (Python's own 1 MB arenas are mmapped
    # apart from malloc and come and go with the objects a step makes)
    assert kept["faults"] <= 1000, (kept, default)
    assert kept["losses"] == default["losses"]


# Subnormals times one: one scalar (the calling thread), and the count of nonzero results of a 4 M-element
# multiply that torch's OpenMP pool splits among its threads (with 2 threads, one half is a pool thread's).
FLUSH_SCRIPT = """
import json, sys, torch
from gfn_lib.config import make_config
from gfn_lib.trainer import Trainer
torch.set_num_threads(int(sys.argv[1]))
tiny = lambda: (torch.tensor(1e-39) * 1.0).item()
many = torch.full((1 << 22,), 1e-39)
kept = lambda: int((many * 1.0 != 0).sum())  # the first call starts the pool, before any Trainer
before = [tiny(), kept()]
Trainer(make_config({"alphabet": "ABC", "min_len": 1, "max_len": 4, "n_layers": 1, "d_model": 16, "n_heads": 2,
                     "reward": "table", "wandb_mode": "disabled", "device": "cpu"}))
print(json.dumps({"before": before, "after": [tiny(), kept()]}))
"""


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="FTZ/DAZ are x86's")
@pytest.mark.parametrize("threads", [1, 2])
def test_a_cpu_trainer_flushes_subnormals_to_zero_in_every_thread(threads):
    """Kept before a Trainer exists, flushed after (a collapsed policy's tiny floats then cost no microcode),
    in the pool's threads too, although the pool started before the Trainer."""
    out = subprocess.run([sys.executable, "-c", FLUSH_SCRIPT, str(threads)], capture_output=True, text=True,
                         check=True, env={**os.environ, "OMP_NUM_THREADS": str(threads)})  # fmt: skip
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert 0 < got["before"][0] < 1.2e-38 and got["before"][1] == 1 << 22, got
    assert got["after"] == [0.0, 0], got
