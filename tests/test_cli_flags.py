"""The CLI flag table, read from the parser itself so it cannot drift: a flag has one name and
one short form in every subcommand, and every subcommand parses each of its flags by either."""
import argparse

import pytest

from lipc import __version__
from lipc.cli.argtypes import solver_name
from lipc.cli.main import main, parsers


def _commands() -> dict[tuple[str, ...], argparse.ArgumentParser]:
    """Every (sub)subcommand's parser, keyed by the words that reach it (bench build, ...)."""
    out = {}
    for name, p in parsers()[1].items():
        nested = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        for action in nested:
            out.update({(name, sub): sp for sub, sp in action.choices.items()})
        if not nested:
            out[(name,)] = p
    return out


def _flags(p: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in p._actions if a.option_strings and a.dest != "help"]


def _value(a: argparse.Action) -> list[str]:
    if a.nargs == 0:
        return []
    if a.choices:
        return [str(next(iter(a.choices)))]
    return ["highs"] if a.type is solver_name else ["1"]


def _minimal(words: tuple[str, ...], p: argparse.ArgumentParser) -> list[str]:
    """A command line with every required argument of ``p``."""
    argv = list(words)
    for a in p._actions:
        if not a.option_strings and not isinstance(a, argparse._SubParsersAction):
            argv.append("m.onnx")
        elif a.required:
            argv += [a.option_strings[0], *_value(a)]
    return argv


def test_every_flag_has_one_spelling_across_subcommands():
    spelling: dict[str, set[frozenset]] = {}
    commands = list(_commands().values())
    for p in commands:
        for a in _flags(p):
            for s in a.option_strings:
                spelling.setdefault(s, set()).add(frozenset(a.option_strings))
    mixed = {s: v for s, v in spelling.items() if len(v) > 1}
    assert not mixed, f"flags spelled differently across subcommands: {mixed}"
    shared = [s for s in spelling if sum(s in {o for a in _flags(p) for o in a.option_strings}
                                         for p in commands) > 1]
    assert {"-s", "-t", "-m", "-q", "-d", "--json", "--solver"} <= set(shared)


@pytest.mark.parametrize("words", list(_commands()), ids=" ".join)
def test_every_flag_parses_by_each_spelling(words):
    ap = parsers()[0]
    p = _commands()[words]
    base = _minimal(words, p)
    for a in _flags(p):
        got = {vars(ap.parse_args(base + [s, *_value(a)]))[a.dest] for s in a.option_strings}
        assert len(got) == 1, (words, a.option_strings, got)


def test_solver_choices_come_from_the_registry(capsys):
    from lipc.solvers import names
    for words, p in _commands().items():
        for a in _flags(p):
            if a.dest == "solver" and a.choices is None:
                for n in names():
                    assert a.type(n) == n
                with pytest.raises(argparse.ArgumentTypeError):
                    a.type("hihgs")


def test_version_and_subcommand_usage(capsys, examples):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"lipc {__version__}"
    net = str(examples / "toy_2_8_8_1.onnx")
    for argv, words in ((["solve", net], "lipc solve: error: the following arguments are "
                                          "required: --domain"),
                        (["solve", net, "-d", "box:0:1", "--gap", "-1"], "lipc solve: error: "
                                                                          "argument --gap"),
                        (["compile", net, "-d", "box:0:1", "--output", "t.mps"],
                         "write the MIP with -o/--out t.mps"),
                        (["compile", net, "-d", "box:0:1"], "lipc compile: error: the "
                                                            "following arguments are required: -o")):
        with pytest.raises(SystemExit) as e:
            main(argv)
        err = capsys.readouterr().err
        assert e.value.code == 2 and words in err and err.startswith("usage: lipc " + argv[0])


def test_solve_keeps_the_log_and_states_what_ran(tmp_path, capsys, examples):
    import json
    log = tmp_path / "solve.log"
    argv = ["solve", str(examples / "toy_2_8_8_1.onnx"), "-d", "box:0:1", "-s", "highs",
            "--formulation", "paper", "--log", str(log), "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["solver"] == "highs" and out["lipc_version"] == __version__
    assert out["stats"]["formulation"] == "paper" and out["stats"]["bounds"] == "interval"
    assert log.read_text().startswith("# lipc solver log (highs)") and len(log.read_text()) > 100
    assert main(argv) == 0                         # its own log may be replaced
    capsys.readouterr()
    user = tmp_path / "mine.txt"
    user.write_text("keep me")
    assert main(argv[:-3] + ["--log", str(user)]) == 2
    assert user.read_text() == "keep me"


def test_log_is_refused_for_a_programs_queries(tmp_path, capsys, examples):
    log = tmp_path / "q.log"
    assert main(["solve", str(examples / "output_range.lipc"), "--log", str(log)]) == 2
    assert "--log" in capsys.readouterr().err and not log.exists()
