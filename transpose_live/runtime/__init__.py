"""Process-wide runtime settings the pipeline owns: the CPU thread budget."""

from transpose_live.runtime.threads import (
    ThreadBudget,
    active_budget,
    apply_budget,
    available_cores,
    keep_threads,
    plan_budget,
    reassert_budget,
    runtime_threads,
)

__all__ = ["ThreadBudget", "active_budget", "apply_budget", "available_cores", "keep_threads", "plan_budget",
           "reassert_budget", "runtime_threads"]
