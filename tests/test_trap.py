"""The trap detector on synthetic curves (like the explosion detector's tests)."""

import numpy as np
import pandas as pd

from gfn_lib.analysis.trap import detect_trap


def _run(n=1000, trap=(100, 600), noise=0.02, seed=0, letters_trapped=2, spikes=()):
    rng = np.random.default_rng(seed)
    step = np.arange(1, n + 1)
    inside = (step >= trap[0]) & (step < trap[1]) if trap else np.zeros(n, bool)
    entropy = np.where(inside, 0.23, 0.8) + rng.normal(0, noise, n)
    letters = np.where(inside, letters_trapped, 19).astype(float)
    for s in spikes:  # a few noisy rows that look free (or trapped) for a moment
        entropy[s : s + 3] = 0.8 if inside[s] else 0.2
        letters[s : s + 3] = 19 if inside[s] else 2
    unique = np.where(inside, 0.6, 1.0)
    return pd.DataFrame({"step": step, "composition_entropy": entropy, "letters_used": letters, "unique_frac": unique})


def test_finds_onset_and_escape_of_a_two_letter_trap():
    r = detect_trap(_run())
    assert r.trapped and abs(r.onset_step - 100) <= 5 and abs(r.escape_step - 600) <= 5
    assert r.letters == 2 and 0.2 < r.composition_entropy < 0.26 and not r.single_sequence
    assert abs(r.duration - 500) <= 10


def test_short_dips_and_spikes_are_not_traps_or_escapes():
    r = detect_trap(_run(spikes=(300, 450, 800)))
    assert abs(r.onset_step - 100) <= 5 and abs(r.escape_step - 600) <= 5
    free = detect_trap(_run(trap=None, spikes=(200, 500)))
    assert not free.trapped and free.onset_step is None and free.escape_step is None


def test_a_trap_that_lasts_to_the_end_has_no_escape():
    r = detect_trap(_run(trap=(50, 2000)))
    assert r.trapped and r.escape_step is None and r.duration is None and r.last_step == 1000


def test_letters_are_reported_not_used_by_the_rule():
    r = detect_trap(_run(letters_trapped=12))  # low entropy with a few rare letters in the batch
    assert r.trapped and r.letters == 12 and abs(r.onset_step - 100) <= 5


def test_a_leaky_trap_escapes_only_when_it_stays_out():
    """Exits shorter than 10 % of the run that return to the trap are not escapes."""
    df = _run(n=1000, trap=(50, 800))
    out = (df.step >= 300) & (df.step < 360)  # a 60-step excursion, then back in the trap
    df.loc[out, "composition_entropy"] = 0.6
    r = detect_trap(df)
    assert abs(r.onset_step - 50) <= 5 and abs(r.escape_step - 800) <= 5
    df.loc[(df.step >= 300) & (df.step < 420), "composition_entropy"] = 0.6  # 120 steps out: an escape
    assert abs(detect_trap(df).escape_step - 300) <= 5


def test_rows_are_sorted_by_step_first():
    df = _run()
    r = detect_trap(df.sample(frac=1.0, random_state=1))
    assert abs(r.onset_step - 100) <= 5 and abs(r.escape_step - 600) <= 5
