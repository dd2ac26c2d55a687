"""The pure engine: evaluate(message, ruleset, state, now) -> Decision (no I/O, no clock)."""

from engine.evaluate.pipeline import evaluate, evaluate_failure

__all__ = ["evaluate", "evaluate_failure"]
