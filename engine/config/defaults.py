"""Fill in the `default` values the schemas declare, so the engine never guesses."""

from __future__ import annotations

import copy

from engine.config.schemas import resolve


def fill_defaults(data, schema: dict, kind: str):
    """Return `data` with every missing property that has a schema default filled in."""
    schema = resolve(schema, kind)
    if isinstance(data, dict) and "properties" not in schema:
        schema = _object_branch(data, schema, kind) or schema
    if isinstance(data, dict):
        props = schema.get("properties", {})
        result = dict(data)
        for key, sub in props.items():
            sub_resolved = resolve(sub, kind)
            if key not in result and "default" in sub_resolved:
                result[key] = copy.deepcopy(sub_resolved["default"])
            if key in result:
                result[key] = fill_defaults(result[key], sub_resolved, kind)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key in data:
                if key not in props:
                    result[key] = fill_defaults(result[key], extra, kind)
        return result
    if isinstance(data, list) and isinstance(schema.get("items"), dict):
        return [fill_defaults(item, schema["items"], kind) for item in data]
    return data


def _object_branch(data: dict, schema: dict, kind: str) -> dict | None:
    """The oneOf branch an object takes (e.g. a filter written as {pattern, match} rather than a
    string), so that branch's defaults are filled too."""
    for branch in schema.get("oneOf", ()):
        branch = resolve(branch, kind)
        if "properties" in branch and set(data) <= set(branch["properties"]):
            return branch
    return None
