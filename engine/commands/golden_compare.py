"""The `expect` syntax of golden cases: a partial decision compared with the real one, readably."""

from __future__ import annotations


def compare(expected, actual, path: str) -> list[str]:
    """Readable differences: dicts are subsets, lists match item by item, `X_contains` checks text."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        problems = []
        for key, want in expected.items():
            problems += _compare_key(key, want, actual, path)
        return problems
    if isinstance(expected, list) and isinstance(actual, (list, tuple)):  # as_json() keeps tuples
        if len(expected) != len(actual):
            return [f"{path}: expected {len(expected)} item(s), got {len(actual)}: {short(actual)}"]
        return [p for i, (w, a) in enumerate(zip(expected, actual)) for p in compare(w, a, f"{path}[{i}]")]
    return [] if expected == actual else [f"{path}: expected {expected!r}, got {short(actual)}"]


def text_check(key: str) -> tuple[str, bool] | None:
    """('field', must_contain) for a `field_contains` / `field_excludes` key, else None."""
    for suffix, present in (("_contains", True), ("_excludes", False)):
        if key.endswith(suffix):
            return key.removesuffix(suffix), present
    return None


def _compare_key(key: str, want, actual: dict, path: str) -> list[str]:
    check = text_check(key)
    if check and check[0] in actual:
        field, present = check
        text = str(actual[field] or "")
        wanted = want if isinstance(want, list) else [want]
        return [f"{path}.{field}: {'missing' if present else 'unexpected'} {w!r} in {short(text)}"
                for w in wanted if (w in text) != present]
    if key == "trace" and isinstance(want, list):
        return trace_mismatch(want, actual.get("trace", []), f"{path}.trace")
    if key not in actual:
        return [f"{path}: no field '{key}'"]
    return compare(want, actual[key], f"{path}.{key}")


def trace_positions(wanted: list, trace: list) -> list[int | None]:
    """Where each wanted step matched in the trace, in order (None from the first that did not)."""
    found: list[int | None] = []
    position = 0
    for want in wanted:
        while position < len(trace) and compare(want, trace[position], ""):
            position += 1
        if position >= len(trace):
            return found + [None] * (len(wanted) - len(found))
        found.append(position)
        position += 1
    return found


def trace_mismatch(wanted: list, trace: list, path: str) -> list[str]:
    """Each wanted step appears in the trace, in this order (other steps may come between)."""
    positions = trace_positions(wanted, trace)
    if None in positions:
        return [f"{path}: no step matching {wanted[positions.index(None)]!r} (in order)"]
    return []


def short(value) -> str:
    text = repr(value)
    return text if len(text) <= 300 else text[:297] + "..."
