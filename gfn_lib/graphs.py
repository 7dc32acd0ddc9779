"""The sampler's decode loop as one CUDA graph (``TrainConfig.cuda_graph``).

On a GPU a step of the memo's policy is bound by kernel launches, not arithmetic: the static decode
loop (:meth:`gfn_lib.policy.PolicyStack.decode` with ``static=True``) is 31 positions x ~100 small
kernels, each waiting on the CPU to launch it. :class:`SamplerGraph` captures that loop once per
stack shape (Nvidia's CUDA graphs, through ``torch.cuda.CUDAGraph``) and replays it each step as one
launch. Everything random is drawn before the loop (Gumbel uniforms, dropout masks) and copied into
the graph's fixed input buffers; the parameters are read where they live (optimisers update them in
place), so a replay computes what the eager static loop computes on the same inputs.

Off CUDA there is nothing to capture: the same object then calls the loop on its fixed buffers, which
is how the buffer handling is tested on a CPU (``tests/test_graphs.py``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from gfn_lib.policy import PolicyStack, Trajectories
from gfn_lib.randomness import DropoutMasks


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
        self._inputs["uniforms"].copy_(uniforms)
        self._inputs["temp"].copy_(temp)
        self._inputs["eps"].copy_(eps)
        if masks is not None:  # the graph reads its own copy
            self._masks.storage.copy_(masks.storage)
        if self._graph is not None:
            self._graph.replay()
            out = self._outputs
        else:
            out = self._run()
        return Trajectories(out.actions.clone(), out.lengths.clone(), out.sampler_log_probs.clone())

    def _capture(self, stack: PolicyStack, uniforms: torch.Tensor, masks: DropoutMasks | None, temp: torch.Tensor,
                 eps: torch.Tensor, mix: bool) -> None:  # fmt: skip
        self._graph = None
        self._inputs = {"uniforms": uniforms.clone(), "temp": temp.clone(), "eps": eps.clone()}
        self._masks = masks.copy_to(torch.empty_like(masks.storage)) if masks is not None else None
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
