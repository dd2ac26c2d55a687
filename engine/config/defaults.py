"""Fill in the `default` values the schemas declare, so the engine never guesses."""

from __future__ import annotations

import copy

from engine.config.schemas import resolve


def fill_defaults(data, schema: dict, kind: str):
    """Return `data` with every missing property that has a schema default filled in."""
    schema = resolve(schema, kind)
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
