"""The import-layer check: what each layer may import, and no import cycles.

``python -m tests.layers`` prints every violation and exits 1 if there is one (``make lint``
runs it); ``tests/unit/test_layers.py`` runs it on the tree and on a copy with a forbidden
import planted, to show it fails. docs/architecture.md explains the rules in words.

Every ``import`` counts, wherever it is (module level, inside a function, under
``TYPE_CHECKING``) for the layer rules; the cycle check leaves out imports under
``if TYPE_CHECKING:``, which never run.
"""

from __future__ import annotations

import ast
import functools
import sys
from dataclasses import dataclass
from pathlib import Path

ROOTS = ("bot", "handlers", "scheduler", "storage")

# Project modules no layer outside storage/ may import, and the layers that use SQL.
SQL_LIBS = ("sqlalchemy", "alembic", "aiosqlite", "asyncpg")

# (layer, forbidden project prefixes, forbidden third-party prefixes, exceptions)
# A module belongs to the longest layer prefix that matches it.
_EDGES = ("bot.app", "bot.dispatch", "bot.cli", "bot.web", "bot.messengers", "bot.demo")


@dataclass(frozen=True)
class Rule:
    layer: str
    forbidden: tuple[str, ...]
    forbidden_libs: tuple[str, ...] = SQL_LIBS
    allowed: tuple[str, ...] = ()  # exceptions to ``forbidden``
    only_stdlib: bool = False


RULES: tuple[Rule, ...] = (
    # The pure rules: the standard library and themselves, nothing else.
    Rule(
        "bot.domain",
        ("bot", "handlers", "scheduler", "storage"),
        allowed=("bot.domain",),
        only_stdlib=True,
    ),
    # Leaf helpers every layer may use: they use nothing but the domain and each other.
    *(
        Rule(
            m,
            ("bot", "handlers", "scheduler", "storage"),
            allowed=("bot.domain", "bot.text", "bot.localtime", "bot.keys", "bot.messages"),
        )
        for m in (
            "bot.messages",
            "bot.keys",
            "bot.text",
            "bot.localtime",
            "bot.httpin",
            "bot.config",
        )
    ),
    Rule(
        "bot.sheets",
        ("bot", "handlers", "scheduler", "storage"),
        allowed=("bot.domain", "bot.text", "bot.localtime", "bot.sheets"),
    ),
    # A messenger translates between bot.messages and its network: no storage, no rules,
    # and no other messenger (checked separately).
    Rule(
        "bot.messengers",
        ("storage", "handlers", "scheduler", "bot.services", "bot.sheets", *_EDGES),
        allowed=("bot.messengers",),
    ),
    # Use cases: the domain and storage's repositories; never an edge, never SQL.
    Rule("bot.services", ("handlers", "scheduler", *_EDGES), ("aiohttp", *SQL_LIBS)),
    # What a command, reply or button does: services only; no HTTP, no storage.
    Rule(
        "handlers",
        ("storage", "scheduler", *_EDGES),
        ("aiohttp", *SQL_LIBS),
        allowed=("storage.uow",),
    ),
    # Thin jobs calling the same services a chat command calls.
    Rule("scheduler", ("handlers", "bot.app", "bot.cli", "bot.web", "bot.messengers")),
    Rule(
        "bot.web",
        ("storage", "handlers", "scheduler", "bot.messengers", "bot.cli", "bot.app"),
        allowed=("storage.uow",),
    ),
    Rule("bot.cli", ("handlers", "bot.web")),
    Rule("bot.demo", ("handlers", "scheduler", *_EDGES), allowed=("bot.demo",)),
    # Storage knows no use case and no protocol.
    Rule("storage", ("bot", "handlers", "scheduler"), (), allowed=("bot.domain", "bot.localtime")),
)


@dataclass(frozen=True)
class Import:
    source: str  # importing module
    target: str  # imported module (resolved to a project module where it is one)
    line: int
    runtime: bool  # False under ``if TYPE_CHECKING:``


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules(root: Path) -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for top in ROOTS:
        for path in sorted((root / top).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            mods[module_name(root, path)] = path
    return mods


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


# One import statement as written: (line, runtime, module or None for ``import x``,
# relative level, imported names).
_Stmt = tuple[int, bool, str | None, int, tuple[str, ...]]


@functools.lru_cache(maxsize=4096)
def _statements(source: str) -> tuple[_Stmt, ...]:
    """The import statements of a text, found once per distinct text: the check walks
    the tree twice per call (layers, cycles), and its own tests walk copies of the tree
    that differ in one file."""
    found: list[_Stmt] = []

    def visit(node: ast.AST, runtime: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for sub in child.body:
                    visit_stmt(sub, False)
                for sub in child.orelse:
                    visit_stmt(sub, runtime)
                continue
            visit_stmt(child, runtime)

    def visit_stmt(node: ast.AST, runtime: bool) -> None:
        if isinstance(node, ast.Import):
            found.append((node.lineno, runtime, None, 0, tuple(a.name for a in node.names)))
        elif isinstance(node, ast.ImportFrom):
            names = tuple(a.name for a in node.names)
            found.append((node.lineno, runtime, node.module or "", node.level, names))
        else:
            visit(node, runtime)

    visit(ast.parse(source), True)
    return tuple(found)


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    package = name if _is_package(path) else name.rpartition(".")[0]
    found: list[Import] = []
    for line, runtime, module, level, names in _statements(path.read_text(encoding="utf-8")):
        if module is None:
            found.extend(Import(name, alias, line, runtime) for alias in names)
            continue
        base = module
        if level:
            anchor = package.split(".")
            anchor = anchor[: len(anchor) - (level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        for alias in names:
            full = f"{base}.{alias}"
            found.append(Import(name, full if full in modules else base, line, runtime))
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def rule_for(module: str) -> Rule | None:
    best: Rule | None = None
    for rule in RULES:
        if _under(module, rule.layer) and (best is None or len(rule.layer) > len(best.layer)):
            best = rule
    return best


def _stdlib(module: str) -> bool:
    return module.split(".")[0] in sys.stdlib_module_names or module == "__future__"


def messenger_packages(modules: dict[str, Path]) -> set[str]:
    """The messengers: the packages directly in ``bot/messengers/``. A plain module there
    (``bot/messengers/bizcrypt.py``) is shared by them, like the package itself."""
    return {
        name
        for name, path in modules.items()
        if _is_package(path) and name.count(".") == 2 and _under(name, "bot.messengers")
    }


def _messenger_of(module: str, messengers: set[str]) -> str | None:
    return next((m for m in messengers if _under(module, m)), None)


def violations(root: Path) -> list[str]:
    modules = project_modules(root)
    messengers = messenger_packages(modules)
    out: list[str] = []
    for name, path in modules.items():
        rule = rule_for(name)
        for imp in imports_of(name, path, modules):
            where = f"{path.relative_to(root)}:{imp.line}: {name} imports {imp.target}"
            target = imp.target
            if not _under(target, "storage") and any(_under(target, lib) for lib in SQL_LIBS):
                if not _under(name, "storage"):
                    out.append(f"{where} (SQL outside storage/)")
                    continue
            if rule is None:
                continue
            is_project = target.split(".")[0] in ROOTS
            if is_project:
                if any(_under(target, a) for a in rule.allowed):
                    continue
                bad = next((f for f in rule.forbidden if _under(target, f)), None)
                if bad:
                    out.append(f"{where} (layer {rule.layer} may not import {bad})")
            else:
                if rule.only_stdlib and not _stdlib(target):
                    out.append(f"{where} (layer {rule.layer} uses the standard library only)")
                bad = next((f for f in rule.forbidden_libs if _under(target, f)), None)
                if bad:
                    out.append(f"{where} (layer {rule.layer} may not import {bad})")
        if _under(name, "bot.messengers"):
            own = _messenger_of(name, messengers)
            for imp in imports_of(name, path, modules):
                theirs = _messenger_of(imp.target, messengers)
                if theirs is None or theirs == own:
                    continue
                why = (
                    "one messenger may not import another"
                    if own
                    else "a module shared by the messengers may not import one of them"
                )
                out.append(
                    f"{path.relative_to(root)}:{imp.line}: {name} imports {imp.target} ({why})"
                )
    return list(dict.fromkeys(out))  # one line per import statement and target


def cycles(root: Path) -> list[list[str]]:
    """Strongly connected components of more than one module (runtime imports only)."""
    modules = project_modules(root)
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for imp in imports_of(name, path, modules):
            if imp.runtime and imp.target in modules and imp.target != name:
                graph[name].add(imp.target)
    # Tarjan, iteratively (the graph is small, recursion would do; iteration is safer).
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1:
                    # a package importing its own submodules is not a cycle of layers
                    out.append(sorted(comp))
    return out


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    problems = violations(root)
    problems += [f"import cycle: {' -> '.join(c)}" for c in cycles(root)]
    for p in problems:
        print(p)
    print(f"layers: {len(problems)} problem(s)" if problems else "layers: clean")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
