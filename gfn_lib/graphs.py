"""A step as CUDA graphs: the sampler's decode loop (:class:`SamplerGraph`, ``TrainConfig.cuda_graph``) and
the training half (:class:`TrainingGraph`, ``TrainConfig.cuda_graph_training``).

On a GPU a step of the memo's policy is bound by kernel launches, not arithmetic: the static decode
loop (:meth:`gfn_lib.policy.PolicyStack.decode` with ``static=True``) is 31 positions x ~100 small
kernels, each waiting on the CPU to launch it, and the scoring pass, backward pass and R optimiser steps
another ~1,000. Each part is captured once per stack shape (Nvidia's CUDA graphs, through
``torch.cuda.CUDAGraph``) and replayed each step as one launch. Everything random is drawn before
(Gumbel uniforms, dropout masks) and copied into the graphs' fixed input buffers; the parameters, the
gradients and the optimisers' state are read and written where they live, so a replay computes what
the eager code computes on the same inputs.

Off CUDA there is nothing to capture: the same objects then call their function on the fixed buffers,
which is how the buffer handling is tested on a CPU (``tests/test_graphs.py``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from gfn_lib.policy import PolicyStack, Trajectories
from gfn_lib.randomness import DropoutMasks


def _hold(inputs: dict[str, torch.Tensor],
          masks: DropoutMasks | None) -> tuple[dict[str, torch.Tensor], DropoutMasks | None]:  # fmt: skip
    """A graph's fixed input buffers: copies of ``inputs`` and ``masks`` that it reads at every replay."""
    fixed_masks = masks.copy_to(torch.empty_like(masks.storage)) if masks is not None else None
    return {name: t.clone() for name, t in inputs.items()}, fixed_masks


def _refill(fixed: dict[str, torch.Tensor], fixed_masks: DropoutMasks | None, inputs: dict[str, torch.Tensor],
            masks: DropoutMasks | None) -> None:  # fmt: skip
    """Copy this call's ``inputs`` and ``masks`` into the buffers of :func:`_hold`."""
    for name, t in inputs.items():
        fixed[name].copy_(t)
    if masks is not None:
        fixed_masks.storage.copy_(masks.storage)


class SamplerGraph:
    """A captured static decode loop for one stack of policies, batch size and setup, recaptured when
    those change (a stack that loses a finished run, say). Keep one per training loop."""

    WARMUP = 2
    """Eager calls on a side stream before capture (what ``torch.cuda.graphs`` asks for)."""

    def __init__(self) -> None:
        self.key: tuple | None = None
        self.captures = 0
        """How many times a loop was captured (tests, diagnostics)."""
        self._run: Callable[[], Trajectories] | None = None
        self._inputs: dict[str, torch.Tensor] = {}
        self._masks: DropoutMasks | None = None
        self._graph: torch.cuda.CUDAGraph | None = None
        self._outputs: Trajectories | None = None

    def replay(self, stack: PolicyStack, uniforms: torch.Tensor, masks: DropoutMasks | None, temp: torch.Tensor,
               eps: torch.Tensor, mix: bool) -> Trajectories:  # fmt: skip
        """:meth:`PolicyStack.decode` (``static=True``) of these inputs: copied into the fixed buffers,
        then one replay. The outputs are copies (the graph's own are overwritten by the next replay)."""
        key = (tuple(id(p) for p in stack.policies), tuple(uniforms.shape), masks is None or tuple(masks.storage.shape),
               mix, stack.device)  # fmt: skip
        if key != self.key:
            self._capture(stack, uniforms, masks, temp, eps, mix)
            self.key = key
        _refill(self._inputs, self._masks, {"uniforms": uniforms, "temp": temp, "eps": eps}, masks)
        if self._graph is not None:
            self._graph.replay()
            out = self._outputs
        else:
            out = self._run()
        return Trajectories(out.actions.clone(), out.lengths.clone(), out.sampler_log_probs.clone())

    def _capture(self, stack: PolicyStack, uniforms: torch.Tensor, masks: DropoutMasks | None, temp: torch.Tensor,
                 eps: torch.Tensor, mix: bool) -> None:  # fmt: skip
        self._graph = None
        self._inputs, self._masks = _hold({"uniforms": uniforms, "temp": temp, "eps": eps}, masks)
        fixed = self._inputs

        def run() -> Trajectories:
            with torch.no_grad():
                return stack.decode(fixed["uniforms"], self._masks, fixed["temp"], fixed["eps"], mix, static=True)

        self._run = run
        self.captures += 1
        if stack.device.type != "cuda":
            return
        side = torch.cuda.Stream(stack.device)
        side.wait_stream(torch.cuda.current_stream(stack.device))
        with torch.cuda.stream(side):
            for _ in range(self.WARMUP):
                run()
        torch.cuda.current_stream(stack.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._outputs = run()
        self._graph = graph


class TrainingGraph:
    """The training half of a step (scoring pass, losses, backward, clipping, optimiser steps) as one CUDA
    graph (``TrainConfig.cuda_graph_training``): ``fn`` takes fixed-shape tensors and returns one tensor
    (the step's statistics); it changes parameters, gradients and optimiser state in place.

    Unlike the decode loop this step cannot be run for nothing before the capture (every call moves the
    optimiser), so the first :attr:`WARMUP` calls of a new key *are* steps: run eagerly on a side stream,
    with the kernels the graph records (``capturable`` optimisers: learning rates and step counts live on
    the device). Then one capture, and every later call copies its inputs into the fixed buffers and
    replays. Gradients are set to ``None`` before the capture, so the captured backward writes them into
    the graph's memory and each replay overwrites them (no zeroing between replays). A new key (another
    stack) drops the old graph and warms up again.

    Off CUDA nothing is captured: after the warm-up calls ``fn`` runs on the fixed buffers (how the buffer
    handling is tested on a CPU)."""

    WARMUP = 2
    """Eager steps on a side stream before the capture (what ``torch.cuda.graphs`` asks for)."""

    def __init__(self) -> None:
        self.key: tuple | None = None
        self.captures = 0
        """How many times a step was captured (tests, diagnostics)."""
        self._eager_calls = 0
        self._fn: Callable[..., torch.Tensor] | None = None
        self._inputs: dict[str, torch.Tensor] = {}
        self._masks: DropoutMasks | None = None
        self._graph: torch.cuda.CUDAGraph | None = None
        self._output: torch.Tensor | None = None

    def __call__(self, key: tuple, fn: Callable[..., torch.Tensor], inputs: dict[str, torch.Tensor],
                 masks: DropoutMasks | None, device: torch.device) -> torch.Tensor:  # fmt: skip
        """``fn(masks=..., **inputs)``: eagerly for the first calls of ``key``, then as a replay."""
        if key != self.key:
            self.key, self._eager_calls, self._fn, self._graph, self._output = key, 0, None, None, None
        if self._fn is None:
            if self._eager_calls < self.WARMUP:
                self._eager_calls += 1
                return self._eagerly(fn, inputs, masks, device)
            self._capture(fn, inputs, masks, device)
        _refill(self._inputs, self._masks, inputs, masks)
        if self._graph is not None:
            self._graph.replay()
            return self._output.clone()
        return self._fn()

    @staticmethod
    def _eagerly(fn: Callable[..., torch.Tensor], inputs: dict[str, torch.Tensor], masks: DropoutMasks | None,
                 device: torch.device) -> torch.Tensor:  # fmt: skip
        if device.type != "cuda":
            return fn(masks=masks, **inputs)
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            out = fn(masks=masks, **inputs)
        torch.cuda.current_stream(device).wait_stream(side)
        return out

    def _capture(self, fn: Callable[..., torch.Tensor], inputs: dict[str, torch.Tensor], masks: DropoutMasks | None,
                 device: torch.device) -> None:  # fmt: skip
        self._inputs, self._masks = _hold(inputs, masks)

        def run() -> torch.Tensor:
            return fn(masks=self._masks, **self._inputs)

        self._fn = run
        self.captures += 1
        if device.type != "cuda":
            return
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._output = run()
        self._graph = graph
