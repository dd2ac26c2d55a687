"""`mailgate directory import FILE`: users, organisations and groups from YAML or CSV."""

from __future__ import annotations

from engine.commands.runtime import add_store_option, load, open_store
from engine.store.directory_import import import_directory



def add_arguments(parser) -> None:
    """Register the command's options."""
    parser.add_argument("action", choices=("import",))
    parser.add_argument("file", metavar="FILE", help="a .yaml/.yml or .csv file (see docs/store.md)")
    add_store_option(parser)


def run(args) -> int:
    """Import all or nothing; every located problem is printed on failure."""
    store = open_store(load(args), args.store)
    try:
        print(import_directory(store, args.file))
    finally:
        store.close()
    return 0
