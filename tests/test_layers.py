"""Layers point one way: module-level imports between animegen's areas follow the rules below, and every
module imports on its own in a fresh interpreter (no order-dependent import cycles)."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import animegen

PKG = Path(animegen.__file__).resolve().parent

# (importer prefix, forbidden prefix): the lower layer never imports the higher one, not even lazily
FORBIDDEN = [
    ("animegen.data", "animegen.train"),
    ("animegen.data", "animegen.cli"),
    ("animegen.models", "animegen.train"),
    ("animegen.models", "animegen.cli"),
    ("animegen.metrics", "animegen.train"),
    ("animegen.metrics", "animegen.cli"),
    ("animegen.train", "animegen.cli"),
    ("animegen.train", "animegen.doctor"),
    ("animegen.imaging", "animegen.train"),
    ("animegen.errors", "animegen."),
    ("animegen.fsutil", "animegen.train"),
]


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    out: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from pkg import mod`` names the module pkg.mod; ``from mod import name`` resolves up to mod
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return {m for m in out if m.startswith("animegen")}


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix if prefix.endswith(".") else prefix + ".")


def test_lower_layers_never_import_higher_ones():
    bad = []
    for name, path in _modules().items():
        for imported in _imports(path, top_level_only=False):
            for low, high in FORBIDDEN:
                if _under(name, low) and _under(imported, high):
                    bad.append(f"{name} imports {imported}")
    assert not bad, "layering violations:\n" + "\n".join(sorted(set(bad)))


def test_data_readers_do_not_import_the_dispatcher_at_module_level():
    """``data.sources`` dispatches to the readers lazily; the readers must not import it back (``ImageSet``
    lives in ``data.imageset``), or importing a reader first would depend on import order."""
    mods = _modules()
    dispatched = ["animegen.data.synthetic", "animegen.data.mnist", "animegen.data.prepared", "animegen.data.prepare"]
    for name in dispatched:
        imported = _imports(mods[name], top_level_only=True)
        assert not any(_under(m, "animegen.data.sources") for m in imported), name


def test_imageset_is_reexported():
    from animegen.data import ImageSet as a
    from animegen.data.imageset import ImageSet as b
    from animegen.data.sources import ImageSet as c

    assert a is b is c


def _resolve(name: str, mods: dict[str, Path]) -> str | None:
    """The module an imported name refers to (``animegen.data.sources.ImageSet`` → ``animegen.data.sources``)."""
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def test_no_module_level_import_cycles():
    mods = _modules()
    graph = {name: {t for m in _imports(path, top_level_only=True) if (t := _resolve(m, mods)) and t != name}
             for name, path in mods.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
    assert not cycles, "import cycles:\n" + "\n".join(" → ".join(c) for c in cycles)


def test_modules_import_in_any_order_in_a_fresh_interpreter():
    """Every module imported first in a fresh interpreter, in reverse dependency-unfriendly order (leaves
    last), in one child process; absent optional extras are tolerated."""
    names = sorted((n for n in _modules() if not n.endswith("__main__")), reverse=True)
    code = (
        "import importlib, sys\n"
        "bad = []\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ModuleNotFoundError as e:\n"
        "        if (e.name or '').split('.')[0] == 'animegen': bad.append(f'{name}: {e}')\n"
        "    except Exception as e:\n"
        "        bad.append(f'{name}: {type(e).__name__}: {e}')\n"
        "print('\\n'.join(bad)); sys.exit(1 if bad else 0)\n"
    )
    r = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
