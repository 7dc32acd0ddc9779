"""The step as CUDA graphs (gfn_lib.graphs): the sampler's decode loop (``TrainConfig.cuda_graph``) and the
training half (``cuda_graph_training``).

On a CPU (``GRAPH_DEVICES`` widened here) the graph is replayed eagerly on its fixed buffers, so
everything but the capture runs here:
the loop reads nothing back from the device (it traces as one graph), a replay gives the eager static
loop's numbers after the parameters and the inputs change, and runs trained with either graph equal
runs without it, alone, stacked and resumed. The tests marked ``cuda`` capture on a GPU (run where one is:
``benchmarks/gpu_session.sh``)."""

import pandas as pd
import pytest
import torch

from gfn_lib import trainer
from gfn_lib.graphs import SamplerGraph, TrainingGraph
from gfn_lib.policy import PolicyStack, TransformerPolicy
from gfn_lib.randomness import fork_generators
from gfn_lib.trainer import METRIC_COLUMNS, TIMING_COLUMNS, Trainer, train_together

COMPARED = [c for c in METRIC_COLUMNS if c not in TIMING_COLUMNS]
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"))]


def _policies(env, n: int, device: str) -> list[TransformerPolicy]:
    torch.manual_seed(0)
    return [TransformerPolicy(env, 2, 32, 2, dropout=0.1, init="xavier").to(device).train() for _ in range(n)]


def _sample(stack: PolicyStack, seed: int, graph: SamplerGraph | None, epsilon: float = 0.0):
    gens = [torch.Generator(stack.device).manual_seed(seed + r) for r in range(stack.R)]
    masks = stack.draw_masks(fork_generators(gens), 16)
    return stack.sample(16, gens, [1.5] * stack.R, [epsilon] * stack.R, static=True, masks=masks, graph=graph)


def _assert_same_trajectories(a, b) -> None:
    assert torch.equal(a.actions, b.actions) and torch.equal(a.lengths, b.lengths)
    torch.testing.assert_close(a.sampler_log_probs, b.sampler_log_probs, rtol=1e-5, atol=1e-6)


def test_static_decode_reads_nothing_back_from_the_device(tiny_config):
    """What CUDA graphs need: the static loop traces as one graph (no ``.item()``, no data-dependent
    branch; traced with the eager backend, the CPU cannot capture), and computes what it computes eagerly."""
    stack = PolicyStack(_policies(tiny_config.env, 2, "cpu"))
    R, B, T, A = 2, 8, tiny_config.env.horizon, tiny_config.env.n_actions
    uniforms = torch.rand(R, T, B, A, generator=torch.Generator().manual_seed(0))
    masks = stack.draw_masks([torch.Generator().manual_seed(s) for s in range(R)], B)
    temp, eps = torch.full((R, 1, 1), 1.5), torch.full((R, 1, 1), 0.1)
    traced = torch.compile(PolicyStack.decode, backend="eager", fullgraph=True)
    _assert_same_trajectories(traced(stack, uniforms, masks, temp, eps, True, True),
                              stack.decode(uniforms, masks, temp, eps, True, True))  # fmt: skip


@pytest.mark.parametrize("device", DEVICES)
def test_replays_follow_the_parameters_and_the_inputs(tiny_config, device):
    """One capture serves every later step: new noise, new masks and parameters changed in place (as the
    optimiser changes them) all reach the replay; a new stack is captured anew."""
    stack = PolicyStack(_policies(tiny_config.env, 3, device))
    graph = SamplerGraph()
    for step in range(3):
        _assert_same_trajectories(_sample(stack, 10 * step, graph), _sample(stack, 10 * step, None))
        with torch.no_grad():
            for p in stack.policies:
                p.head.bias.add_(torch.randn_like(p.head.bias))
    assert graph.captures == 1
    _assert_same_trajectories(_sample(stack, 7, graph, epsilon=0.2), _sample(stack, 7, None, epsilon=0.2))
    smaller = PolicyStack(stack.policies[:2])
    _assert_same_trajectories(_sample(smaller, 3, graph), _sample(smaller, 3, None))
    assert graph.captures == 3  # epsilon > 0 and two runs: each a loop of its own


@pytest.fixture
def two_runs(tiny_config, monkeypatch):
    """Two runs of the eager static loop (``cuda_graph`` off), on a CPU that takes the graph's path when asked."""
    monkeypatch.setattr(trainer, "GRAPH_DEVICES", ("cuda", "cpu"))
    base = tiny_config.model_copy(update={"dropout": 0.1, "n_steps": 12, "optimizer": "adamw", "static_shapes": True,
                                          "cuda_graph": False})  # fmt: skip
    return [base.model_copy(update={"seed": 1}), base.model_copy(update={"seed": 2, "epsilon": 0.1, "temperature": 2.0})]


def _metrics(cfgs, dirs=None) -> list[pd.DataFrame]:
    trainers = [Trainer(c, d) for c, d in zip(cfgs, dirs or [None] * len(cfgs))]
    graphs = []
    train_together(trainers, progress=False,
                   callback=lambda row: graphs.append((trainers[0]._sampler_graph, trainers[0]._training_graph)))
    sampler, training = graphs[-1]  # as the last step left them (training lets go of them afterwards)
    assert (sampler is not None and sampler.captures == 1) == cfgs[0].cuda_graph  # the graph's path, captured once
    graphed_training = cfgs[0].cuda_graph and cfgs[0].cuda_graph_training
    assert (training is not None and training.captures == 1) == graphed_training
    return [t.metrics_frame()[COMPARED].reset_index(drop=True) for t in trainers]


def _assert_same_stacked_alone_and_resumed(graphed, cfgs, tmp_path) -> list[pd.DataFrame]:
    """Runs of ``graphed`` give the metrics of runs of ``cfgs``: stacked, the second alone, and stopped at
    step 6 then resumed; returns the expected metrics."""
    expected = _metrics(cfgs)
    for got, want in zip(_metrics(graphed), expected):
        pd.testing.assert_frame_equal(got, want, check_dtype=False, rtol=1e-4, atol=1e-5)
    pd.testing.assert_frame_equal(_metrics(graphed[1:])[0], expected[1], check_dtype=False, rtol=1e-4, atol=1e-5)
    dirs = [tmp_path / "a", tmp_path / "b"]
    _metrics([c.model_copy(update={"n_steps": 6}) for c in graphed], dirs)
    for got, want in zip(_metrics(graphed, dirs), expected):
        pd.testing.assert_frame_equal(got, want, check_dtype=False, rtol=1e-4, atol=1e-5)
    return expected


@pytest.mark.parametrize("device", DEVICES)
def test_runs_with_the_graph_equal_runs_without(two_runs, tmp_path, device):
    """Stacked, alone, and stopped at step 6 then resumed: the numbers of the eager static loop."""
    cfgs = [c.model_copy(update={"device": device}) for c in two_runs]
    graphed = [c.model_copy(update={"cuda_graph": True}) for c in cfgs]
    _assert_same_stacked_alone_and_resumed(graphed, cfgs, tmp_path)


@pytest.mark.parametrize("device", DEVICES)
def test_the_training_half_as_a_graph_equals_it_eager(two_runs, tmp_path, device):
    """``cuda_graph_training`` on against off (the decode loop graphed in both): two eager steps, one capture,
    then replays that follow the inputs, the parameters and the learning rate (warmup of 5 steps: it changes
    under the graph); stacked, alone, and stopped at step 6 then resumed (a capture of its own after the
    resume). On CUDA the optimisers run ``capturable`` when graphed: the same update, rounded on the device."""
    cfgs = [c.model_copy(update={"device": device, "cuda_graph": True, "cuda_graph_training": False, "warmup_steps": 5})
            for c in two_runs]  # fmt: skip
    graphed = [c.model_copy(update={"cuda_graph_training": True}) for c in cfgs]
    expected = _assert_same_stacked_alone_and_resumed(graphed, cfgs, tmp_path)
    assert expected[0]["lr"].nunique() > 3


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("loss", ["subtb", "logvar"])
def test_every_loss_trains_under_the_graph(two_runs, device, loss):
    """SubTB (its flow head, its pair weights) and the log Z-free loss (no log Z group) captured too."""
    cfg = two_runs[0].model_copy(update={"device": device, "loss": loss, "cuda_graph": True, "cuda_graph_training": False})
    expected = _metrics([cfg])[0]
    got = _metrics([cfg.model_copy(update={"cuda_graph_training": True})])[0]
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, rtol=1e-4, atol=1e-5)


def test_the_training_graph_warms_up_on_real_steps_and_recaptures_for_a_new_key():
    """Every call is a step: the first ``WARMUP`` calls of a key run ``fn`` on the caller's tensors, later
    ones on the fixed buffers (the captured inputs), into which each call's inputs are copied first."""
    graph, seen = TrainingGraph(), []

    def fn(x, masks):
        seen.append(x.data_ptr())
        return x * 2

    xs = [torch.full((3,), float(i)) for i in range(5)]
    outs = [graph(("a",), fn, {"x": x}, None, torch.device("cpu")) for x in xs]
    assert [o.tolist() for o in outs] == [[2.0 * i] * 3 for i in range(5)]
    assert seen[:2] == [xs[0].data_ptr(), xs[1].data_ptr()] and len(set(seen[2:])) == 1 and seen[2] != xs[2].data_ptr()
    assert graph.captures == 1
    graph(("b",), fn, {"x": xs[0]}, None, torch.device("cpu"))
    assert graph.captures == 1 and seen[-1] == xs[0].data_ptr()  # a new key: warm-up steps again


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_a_graphed_checkpoint_resumes_eagerly_and_back(two_runs, tmp_path):
    """A checkpoint of a captured (``capturable``) run resumes in an eager run, whose checkpoint resumes
    captured again: learning rates are saved as floats, and the optimiser is set up anew for the run that
    loads it (a run's generator is its device's, so a run resumes on the device it started on)."""
    cfg = two_runs[0].model_copy(update={"device": "cuda", "cuda_graph": True, "n_steps": 6})
    Trainer(cfg, tmp_path).train(progress=False)
    state = torch.load(tmp_path / "checkpoint.pt", map_location="cpu", weights_only=False)
    assert all(isinstance(g["lr"], float) for g in state["optimizer"]["param_groups"])
    eager = Trainer(cfg.model_copy(update={"cuda_graph_training": False, "n_steps": 10}), tmp_path)
    assert not eager.optimizer.param_groups[0]["capturable"] and isinstance(eager.optimizer.param_groups[0]["lr"], float)
    assert eager.train(progress=False)["step"].tolist() == list(range(1, 11))
    back = Trainer(cfg.model_copy(update={"n_steps": 14}), tmp_path)
    assert back.optimizer.param_groups[0]["capturable"] and back.optimizer.param_groups[0]["lr"].is_cuda
    assert all(s["step"].is_cuda for s in back.optimizer.state.values())
    df = back.train(progress=False)
    assert df["step"].tolist() == list(range(1, 15)) and df["loss"].notna().all()


def test_a_finished_run_lets_go_of_its_graph(two_runs):
    """The first run of a stack keeps the stack's graph; once it finishes, the others capture their own, and
    nothing keeps a graph after training (GPU memory)."""
    short, long = (c.model_copy(update={"cuda_graph": True, "n_steps": n}) for c, n in zip(two_runs, (4, 12)))
    trainers = [Trainer(short), Trainer(long)]
    captured = []
    train_together(trainers, progress=False, callback=lambda row: captured.append(
        [t._sampler_graph.captures if t._sampler_graph else 0 for t in trainers]))  # fmt: skip
    assert captured[0] == [1, 0] and captured[-1] == [0, 1]  # led by the short run, then by the long one alone
    assert all(t._sampler_graph is None and t._training_graph is None and t._spent_masks is None for t in trainers)


def test_the_graph_is_on_by_default_on_cuda_only(tiny_config):
    assert tiny_config.cuda_graph
    cpu = Trainer(tiny_config.model_copy(update={"device": "cpu"}))
    assert not cpu._graphed and not cpu._static  # the CPU keeps the early-stopping loop (faster there)


def test_runs_with_and_without_the_graph_are_not_stacked(two_runs):
    with pytest.raises(ValueError, match="cuda_graph"):
        train_together([Trainer(two_runs[0]), Trainer(two_runs[1].model_copy(update={"cuda_graph": True}))], progress=False)
