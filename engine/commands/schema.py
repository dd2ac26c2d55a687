"""`mailgate schema`: print the published JSON Schemas for editors and CI (F-CFG-4)."""

from __future__ import annotations

import json

from engine.config.schemas import schema_for



def add_arguments(parser) -> None:
    """Register the command's options."""
    parser.add_argument("--kind", choices=("mailbox", "rules"), default=None,
                        help="which schema (default: both, as one JSON object keyed by kind)")


def run(args) -> int:
    """Print the schema(s) as JSON."""
    if args.kind:
        print(json.dumps(schema_for(args.kind), indent=2, ensure_ascii=False))
    else:
        print(json.dumps({kind: schema_for(kind) for kind in ("mailbox", "rules")}, indent=2, ensure_ascii=False))
    return 0
