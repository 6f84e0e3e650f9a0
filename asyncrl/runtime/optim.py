"""The paper's optimizers (Eq. S2-S3 and Fig. S5), applying a rollout's gradient to the shared
parameters. Gradients arrive explicitly as a list from an actor-learner's local copy; no `.grad`
is ever shared between copies.

  shared_rmsprop : g = alpha g + (1 - alpha) d^2 ; theta -= lr d / sqrt(g + eps), g shared by all
  rmsprop        : the same with g private to each actor-learner
  momentum_sgd   : m = alpha m + (1 - alpha) d ; theta -= lr m, m private to each actor-learner
eps sits inside the square root, as in Eq. (S3). Updates are lock-free (Hogwild).

The clipping factor of `clip_grad_norm` can be applied inside the step (`grad_scale`): then the
gradients are never rewritten in place, which saves a pass over them.
"""

from __future__ import annotations

from typing import List, Optional, Sequence

import torch

KINDS = ("shared_rmsprop", "rmsprop", "momentum_sgd")


def make_shared_statistics(params: Sequence[torch.Tensor]) -> List[torch.Tensor]:
    """RMSProp's g, created eagerly in shared memory before any actor-learner starts."""
    return [torch.zeros_like(p).share_memory_() for p in params]


class AsyncOptimizer:
    """One actor-learner's view of the optimizer over the shared parameters."""

    def __init__(
        self,
        kind: str,
        params: Sequence[torch.Tensor],
        alpha: float,
        eps: float,
        shared_stats: Optional[Sequence[torch.Tensor]] = None,
    ):
        if kind not in KINDS:
            raise ValueError(f"unknown optimizer '{kind}' (valid: {', '.join(KINDS)})")
        self.kind, self.alpha, self.eps = kind, alpha, eps
        self.params = list(params)
        if kind == "shared_rmsprop":
            if shared_stats is None:
                raise ValueError("shared_rmsprop needs the shared statistics")
            self.state = list(shared_stats)
        else:
            self.state = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor], lr: float, scale: float = 1.0) -> None:
        """Apply the gradients d, times `scale` (the clipping factor), with learning rate lr."""
        grads = list(grads)
        s = self.state
        if self.kind == "momentum_sgd":
            torch._foreach_mul_(s, self.alpha)
            torch._foreach_add_(s, grads, alpha=(1.0 - self.alpha) * scale)
            torch._foreach_add_(self.params, s, alpha=-lr)
            return
        # g = alpha g + (1 - alpha) (scale d)^2 ; theta -= lr (scale d) / sqrt(g + eps)
        torch._foreach_mul_(s, self.alpha)
        torch._foreach_addcmul_(s, grads, grads, value=(1.0 - self.alpha) * scale * scale)
        denom = torch._foreach_add(s, self.eps)
        torch._foreach_sqrt_(denom)
        torch._foreach_addcdiv_(self.params, grads, denom, value=-lr * scale)

    def state_tensors(self) -> List[torch.Tensor]:
        return self.state


def grad_norm(grads: Sequence[torch.Tensor]) -> float:
    """The global L2 norm of a list of gradients."""
    return float(torch.linalg.vector_norm(torch.stack(torch._foreach_norm(list(grads)))))


def grad_scale(norm: float, max_norm: float) -> float:
    """The factor that brings a gradient of global norm `norm` to at most max_norm (1: no clipping)."""
    if max_norm > 0 and norm > max_norm:
        return max_norm / (norm + 1e-6)
    return 1.0


def clip_grad_norm(grads: Sequence[torch.Tensor], max_norm: float) -> float:
    """Scale the gradients in place so their global L2 norm is at most max_norm; return the norm."""
    norm = grad_norm(grads)
    scale = grad_scale(norm, max_norm)
    if scale != 1.0:
        torch._foreach_mul_(list(grads), scale)
    return norm


def linear_lr(lr0: float, frames: int, horizon_frames: int) -> float:
    """The learning rate annealed linearly from lr0 to 0 at horizon_frames."""
    return lr0 * max(0.0, 1.0 - frames / horizon_frames)


def lr_horizon(method_cfg, total_frames: int) -> int:
    """The frames at which the learning rate reaches 0: method.lr_anneal_frames, else the budget."""
    horizon = method_cfg.get("lr_anneal_frames")
    return int(total_frames if horizon is None else horizon)
