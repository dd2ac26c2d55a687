"""The pure engine: evaluate(message, ruleset, state, now) -> Decision (no I/O, no clock)."""

from engine.evaluate.pipeline import evaluate

__all__ = ["evaluate"]
