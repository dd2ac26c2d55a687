"""The flow's layers hold: evaluate does no I/O, config knows no source, apply imports no evaluate,
parse knows no store, and no module imports itself in a circle (DESIGN.md, "Layering")."""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parent.parent / "engine"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ENGINE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str) -> set[str]:
    """Every module `path` imports, at the top or inside a function (both can form a cycle)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):  # `if TYPE_CHECKING:` imports are for type checkers only
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            node.body = []
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in ENGINE.rglob("*.py")}
    return {name: {m for m in _imports(path, name) if m in modules and m != name} for name, path in modules.items()}


GRAPH = _graph()
ALL_IMPORTS = {name: _imports(p, name) for name, p in ((_module_name(p), p) for p in ENGINE.rglob("*.py"))}


def _in(layer: str, module: str) -> bool:
    return module == layer or module.startswith(layer + ".")


def _violations(layer: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(f"{module} imports {target}" for module, targets in ALL_IMPORTS.items() if _in(layer, module)
                  for target in targets if any(_in(f, target) for f in forbidden))


# Standard-library and third-party modules that read files, sockets, the clock or the log.
IO_MODULES = ("os", "io", "socket", "ssl", "time", "logging", "subprocess", "shutil", "tempfile", "pathlib",
              "urllib", "http", "requests", "sqlalchemy", "psycopg", "imapclient", "poplib", "smtplib",
              "exchangelib", "msal", "random", "threading", "multiprocessing", "signal")


def test_evaluate_imports_nothing_that_does_io_time_or_logging():
    assert _violations("engine.evaluate", IO_MODULES + ("engine.store", "engine.sources", "engine.run",
                                                         "engine.apply", "engine.commands", "engine.cli")) == []


def test_config_imports_no_source_store_or_runner():
    assert _violations("engine.config", ("engine.sources", "engine.store", "engine.run", "engine.apply",
                                         "engine.commands", "engine.cli")) == []


def test_apply_imports_nothing_from_evaluate():
    assert _violations("engine.apply", ("engine.evaluate", "engine.commands", "engine.cli")) == []


def test_parse_imports_no_store_source_or_later_stage():
    assert _violations("engine.parse", ("engine.store", "engine.sources", "engine.evaluate", "engine.apply",
                                        "engine.run", "engine.commands", "engine.cli")) == []


def test_only_commands_and_the_cli_import_commands():
    outside = [v for v in _violations("engine", ("engine.commands", "engine.cli"))
               if not v.startswith(("engine.commands", "engine.cli"))]
    assert outside == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _without_packages(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    # `import engine.parse.autogen` runs engine/parse/__init__ first; a package that
    # re-exports its own modules is not a cycle of the code, so package edges are left out.
    packages = {name for name in graph if (ENGINE.parent / name.replace(".", "/") / "__init__.py").exists()}
    return {name: {t for t in targets if t not in packages} for name, targets in graph.items() if name not in packages}


def test_no_import_cycles():
    assert _cycles(_without_packages(GRAPH)) == []
