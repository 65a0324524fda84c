"""The package's import graph: data flows one way (no import cycles, counting imports inside
functions too, which is where cycles hide) and no module reaches into another's private names.

The graph is read from the source with ``ast`` (nothing is imported), so a cycle that only bites on
one code path is caught as surely as one that breaks ``import lipc``.
"""
from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = {"lipc": ROOT / "lipc", "lipc.emit": ROOT / "emit", "lipc.grammar": ROOT / "grammar"}


def _modules() -> dict[str, tuple[Path, bool]]:
    """Every module of the installed package: name -> (file, is a package __init__)."""
    out = {}
    for prefix, folder in PACKAGE_DIRS.items():
        for f in folder.rglob("*.py"):
            parts = list(f.relative_to(folder).with_suffix("").parts)
            is_pkg = parts[-1] == "__init__"
            name = ".".join([prefix] + (parts[:-1] if is_pkg else parts))
            out[name] = (f, is_pkg)
    return out


MODULES = _modules()


def _imports(name: str) -> list[tuple[str, str | None, ast.AST]]:
    """(imported module, imported name or None, node) for every import anywhere in ``name``."""
    f, is_pkg = MODULES[name]
    pkg = name if is_pkg else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(f.read_text(), str(f))):
        if isinstance(node, ast.Import):
            found += [(a.name, None, node) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[:len(pkg.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for a in node.names:
                sub = f"{target}.{a.name}"
                found.append((sub, None, node) if sub in MODULES else (target, a.name, node))
    return [(t, n, node) for t, n, node in found if t in MODULES]


def _graph() -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_nodes_from(MODULES)
    for name in MODULES:
        for target, _, node in _imports(name):
            if target != name:
                g.add_edge(name, target, line=node.lineno)
    return g


def test_the_graph_is_read():
    """Guard for the two tests below: the walk sees the modules and the edges we know exist."""
    g = _graph()
    assert {"lipc.api", "lipc.core.ir", "lipc.lowering.rules", "lipc.emit.mps"} <= set(g)
    assert g.has_edge("lipc.emit.mps", "lipc.core.mip")
    assert g.number_of_edges() > 100


def test_no_import_cycles():
    g = _graph()
    cycles = [c for c in nx.strongly_connected_components(g) if len(c) > 1]
    described = []
    for c in cycles:
        loop = nx.find_cycle(g.subgraph(c))
        described.append(" -> ".join(f"{a} (line {g.edges[a, b]['line']})" for a, b in loop)
                         + f" -> {loop[0][0]}")
    assert not described, "import cycles:\n" + "\n".join(described)


def _private(n: str) -> bool:
    return n.startswith("_") and not (n.startswith("__") and n.endswith("__"))


def test_no_private_names_across_modules():
    """``from lipc.x import _y`` and ``module._y`` on an imported lipc module are both refused:
    a private name is free to change without telling anyone, so nobody else may depend on it."""
    bad = []
    for name, (f, _) in MODULES.items():
        module_aliases = {}
        for target, imported, node in _imports(name):
            if imported is not None and _private(imported) and target != name:
                bad.append(f"{f.relative_to(ROOT)}:{node.lineno} imports {target}.{imported}")
            if imported is None:
                for a in node.names:
                    module_aliases[a.asname or a.name.rpartition(".")[2]] = target
        for node in ast.walk(ast.parse(f.read_text())):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in module_aliases and _private(node.attr)):
                bad.append(f"{f.relative_to(ROOT)}:{node.lineno} uses "
                           f"{module_aliases[node.value.id]}.{node.attr}")
    assert not bad, "private names used across modules:\n" + "\n".join(bad)


# The documented stage order (ARCHITECTURE.md's pipeline map), top to bottom: a module may import
# from its own stage or one above it, never from one below.  The base modules come first and the
# package facade (lipc/__init__, which re-exports the API) last.
STAGES = ["lipc.errors", "lipc.version", "lipc.core", "lipc.emit", "lipc.grammar", "lipc.util",
          "lipc.question", "lipc.frontends", "lipc.lowering", "lipc.solvers", "lipc.bounds",
          "lipc.compiler", "lipc.verify", "lipc.bab", "lipc.estimators", "lipc.api",
          "lipc.studies", "lipc.cli", "lipc.__main__", "lipc"]


def _stage(module: str) -> int:
    """The index in STAGES of the longest stage that is ``module`` or contains it."""
    found = [i for i, s in enumerate(STAGES) if module == s or module.startswith(s + ".")]
    assert found, f"{module} belongs to no stage of STAGES: add its folder to the list"
    return max(found, key=lambda i: len(STAGES[i]))


def _upward(edges) -> list[str]:
    return [f"{a} (line {line}) imports {b}, a later stage" for a, b, line in edges
            if _stage(b) > _stage(a)]


def test_imports_flow_down_the_stage_order():
    g = _graph()
    bad = _upward((a, b, g.edges[a, b]["line"]) for a, b in g.edges)
    assert not bad, "imports against the stage order of ARCHITECTURE.md:\n" + "\n".join(bad)


def test_the_stage_order_check_can_fail():
    """Guard for the test above: an import up the list is caught, one down it is not."""
    assert _upward([("lipc.question.domain", "lipc.verify.witness", 1)])
    assert _upward([("lipc.util.workers", "lipc.studies.track", 1)])
    assert not _upward([("lipc.verify.witness", "lipc.question.domain", 1)])
    assert _stage("lipc.cli.main") > _stage("lipc.api") > _stage("lipc.core.ir")


def test_architecture_md_lists_the_stages_in_order():
    """ARCHITECTURE.md's map names the stage folders in the order this test enforces."""
    text = (ROOT / "ARCHITECTURE.md").read_text()
    block = text.split("```")[1]
    named = [line.split()[0] for line in block.splitlines()
             if line and not line[0].isspace() and line.split()[0].endswith(("/", ".py"))]
    documented = ["lipc." + n.rstrip("/").removesuffix(".py") for n in named]
    assert documented == [s for s in STAGES if s not in BASE], documented


BASE = ("lipc.errors", "lipc.version", "lipc.__main__", "lipc")     # not stages of the pipeline
