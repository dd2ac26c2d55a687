"""`mailgate schema`: print the published JSON Schemas; `--write` wires a config's YAML files to them for editors."""

from __future__ import annotations

import json
import os
from pathlib import Path

from engine.commands.runtime import config_dir
from engine.config.load import discover
from engine.config.schemas import KINDS, schema_for

MODELINE = "# yaml-language-server: $schema="
CASE_FOLDERS = ("tests/cases",)  # golden cases beside the config, as `mailgate test` finds them


def add_arguments(parser) -> None:
    """Register the command's options."""
    parser.add_argument("--kind", choices=sorted(KINDS), default=None,
                        help="which schema (default: all, as one JSON object keyed by kind)")
    parser.add_argument("--write", action="store_true",
                        help="write the schemas into the config's schema/ folder and put a yaml-language-server "
                             "line at the top of every mailbox, rules and golden-case file that points at them")


def run(args) -> int:
    """Print the schema(s) as JSON, or write them and the editor lines."""
    if args.write:
        return _write(Path(config_dir(args)))
    if args.kind:
        print(json.dumps(schema_for(args.kind), indent=2, ensure_ascii=False))
    else:
        print(json.dumps({kind: schema_for(kind) for kind in KINDS}, indent=2, ensure_ascii=False))
    return 0


def _write(directory: Path) -> int:
    folder = directory / "schema"
    folder.mkdir(exist_ok=True)
    for kind, name in KINDS.items():
        _replace(folder / name, json.dumps(schema_for(kind), indent=2, ensure_ascii=False) + "\n", directory)
    files = [(path, kind) for path, kind in discover(directory)]
    files += [(case, "case") for sub in CASE_FOLDERS for case in sorted((directory / sub).glob("*.expected.yaml"))]
    changed = sum(_modeline(path, folder / KINDS[kind]) for path, kind in files)
    print(f"{changed} of {len(files)} YAML file(s) now point at {folder.relative_to(directory)}/ "
          "(line numbers in them moved down by one: `mailgate test --update` follows)" if changed else
          f"all {len(files)} YAML file(s) already point at {folder.relative_to(directory)}/")
    return 0


def _replace(path: Path, text: str, directory: Path) -> None:
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(directory)}")


def _modeline(path: Path, schema: Path) -> bool:
    """Put (or correct) the yaml-language-server line at the top of `path`; True when the file changed."""
    line = MODELINE + Path(os.path.relpath(schema, path.parent)).as_posix()
    text = path.read_text(encoding="utf-8")
    first, newline, rest = text.partition("\n")
    if first.startswith(MODELINE):
        if first == line:
            return False
        text = line + newline + rest
    else:
        text = f"{line}\n{text}"
    path.write_text(text, encoding="utf-8")
    return True
