"""The shape of the code: a headless core, one application layer that both faces call, and
modules that import on their own without cycles (import-linter contracts and checks here)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_linter_contract_holds():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


def test_the_faces_never_hold_the_store():
    """The CLI and the TUI ask the application layer; they never reach through it to the
    store (where they could write on the UI thread, or assemble core calls of their own)."""
    faces = [*(ROOT / "buypower_tui" / "ui").rglob("*.py"), *(ROOT / "buypower_tui").glob("cli*.py")]
    reaching = [f"{path.relative_to(ROOT)}:{n}" for path in faces
                for n, line in enumerate(path.read_text().splitlines(), 1)
                if ".store." in line or "store=" in line and "services" in line]
    assert not reaching, reaching


def test_the_tui_and_the_cli_start_without_what_only_some_commands_need():
    """Issue 12: the TUI's first frame needs neither the client (httpx, the rate limiter,
    retries), nor Alembic, openpyxl or the sandbox server, nor even the store (SQLAlchemy,
    SQLModel, the services) or the keyring: those load in a worker after it (ui/start.py)."""
    heavy = ("httpx", "aiolimiter", "stamina", "alembic", "openpyxl", "buypower_tui.core.client",
             "buypower_tui.core.vending", "buypower_tui.core.sandbox.server", "buypower_tui.core.demo",
             "sqlalchemy", "sqlmodel", "keyring", "buypower_tui.services.operations")
    code = ("import sys, buypower_tui.cli, buypower_tui.ui.app, buypower_tui.ui.tui; "
            f"print([m for m in {heavy!r} if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_importing_the_core_does_not_load_textual():
    code = ("import sys, buypower_tui.core.importing, buypower_tui.core.store, buypower_tui.cli; "
            "print('textual' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False", result.stderr


PACKAGE = ROOT / "buypower_tui"


def _modules() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if "migrations" in parts or parts[-1] == "__main__":  # run by Alembic / by `python -m`, not imported
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_every_module_imports_on_its_own():
    """Each module, imported first (every buypower_tui module unloaded before it): an import
    that works only after another module was loaded is an import cycle waiting to happen.
    sqlmodel is unloaded too: its metadata would otherwise hold the tables of the last round."""
    code = ("import importlib, sys, traceback\n"
            "failed = []\n"
            f"for name in {_modules()!r}:\n"
            "    for loaded in [m for m in sys.modules if m.startswith(('buypower_tui', 'sqlmodel'))]:\n"
            "        del sys.modules[loaded]\n"
            "    try:\n"
            "        importlib.import_module(name)\n"
            "    except Exception:\n"
            "        failed.append(name + ': ' + traceback.format_exc().splitlines()[-1])\n"
            "print('\\n'.join(failed))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0 and result.stdout.strip() == "", result.stdout + result.stderr


def _top_level_imports(path: Path) -> set[str]:
    """The buypower_tui modules a file imports at its top level (`from pkg import submodule`
    counts as the submodule, not as the package)."""
    found: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("buypower_tui"):
            subs = {f"{node.module}.{a.name}" for a in node.names
                    if (ROOT / f"{node.module}.{a.name}".replace(".", "/")).with_suffix(".py").exists()}
            found |= subs | ({node.module} if len(subs) < len(node.names) else set())
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("buypower_tui")}
    return found


def test_no_import_cycle():
    graph = {}
    for name in _modules():
        path = ROOT / name.replace(".", "/")
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        graph[name] = _top_level_imports(path)
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(name: str, stack: list[str]) -> None:
        state[name] = 1
        for dep in sorted(graph.get(name, ())):
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep):], dep])
            elif dep in graph and dep not in state:
                visit(dep, [*stack, dep])
        state[name] = 2

    for name in graph:
        if name not in state:
            visit(name, [name])
    assert cycles == []
