"""The one Question type (issue 18): every front door (API keywords, a Question object, the
command-line flags, a lipc program, a bench manifest) builds the same question, and
``Question.resolve`` turns it into the same Domain and Query the spellings always meant."""
from dataclasses import fields

import numpy as np
import pytest

import lipc
from lipc.cli.flags import question_from_args
from lipc.cli.main import parsers
from lipc.frontends.dsl import build
from lipc.frontends.onnx.writer import random_mlp
from lipc.question.domain import parse_domain
from lipc.question.question import QUESTION_FIELDS, Question, question_fields
from lipc.util.fingerprint import fingerprint
from oracle import lipschitz_many

WS, BS = random_mlp(np.random.default_rng(18), [3, 6, 6, 3])
NET = lipc.from_layers(list(zip(WS, BS)))


def _same_set(a, b) -> None:
    """Two domains are the same set written the same way (bit for bit)."""
    for k in ("lo", "hi", "A", "B", "r_lo", "r_hi", "s_lo", "s_hi"):
        x, y = getattr(a, k), getattr(b, k)
        assert (x is None) == (y is None), k
        if x is not None:
            assert x.shape == y.shape and np.array_equal(x, y), k


def test_resolve_is_the_spellings_meaning():
    """A spec string, a Domain object and a norm object resolve to what their own parsers
    give; the output selector to the weights c."""
    dom, q = Question("linf:0.5:0.1", output=(0, 2), input_norm="l1").resolve(NET)
    _same_set(dom, parse_domain("linf:0.5:0.1", 3))
    assert q.output.fixed.tolist() == [1.0, 0.0, -1.0] and q.input_norm.name == "l1"
    dom2, q2 = Question(lipc.Box(0, 1), output_norm="margin").resolve(NET)
    _same_set(dom2, parse_domain("box:0:1", 3))
    assert q2.output.fixed is None and q2.output.name.startswith("margin")
    with pytest.raises(lipc.DomainError, match="no domain"):
        Question(output="0-1").resolve(NET)
    with pytest.raises(lipc.QueryError, match="not both"):
        Question("box:0:1", output="0-1", output_norm="linf").resolve(NET)


def test_api_takes_a_question_for_the_domain_and_its_keywords():
    """lipc.solve(net, Question(...)) is lipc.solve(net, domain, output=..., ...), and both are
    the oracle's constant; a Question with keywords beside it is refused (nothing ignored)."""
    x0 = np.array([0.3, 0.5, 0.6])
    exact = lipschitz_many(WS, BS, x0 - 0.2, x0 + 0.2,
                           queries=[(np.array([1.0, -1.0, 0.0]), "inf")])[0]
    ball = lipc.LinfBall(x0, 0.2)
    a = lipc.solve(NET, Question(ball, output="0-1"))
    b = lipc.solve(NET, ball, output="0-1")
    assert a.status == b.status == "optimal" and a.value == b.value
    assert abs(a.value - exact) <= 1e-6 * exact
    e = lipc.estimate(NET, Question(ball, output=(0, 1)), method="fastlip")
    assert e.value == lipc.estimate(NET, ball, output=(0, 1), method="fastlip").value >= a.lower
    with pytest.raises(lipc.QueryError, match="carries its output"):
        lipc.solve(NET, Question(ball, output="0-1"), output="0-1")


def test_flags_spell_exactly_the_question_fields():
    """Every Question field is a query flag of every command that takes a question (adding a
    field to Question without a flag fails here), and the flags build that Question."""
    _, subs = parsers()
    for cmd in ("solve", "compile", "estimate", "compare", "track"):
        dests = {a.dest for a in subs[cmd]._actions}
        assert set(QUESTION_FIELDS) <= dests, (cmd, set(QUESTION_FIELDS) - dests)
    args = subs["solve"].parse_args(["m.onnx", "-d", "box:0:1", "--output-norm", "margin",
                                     "--norm", "l1"])
    q = question_from_args(args)
    assert (q.domain, q.output, q.output_norm, q.input_norm) == ("box:0:1", None, "margin", "l1")
    assert [f.name for f in fields(Question)] == list(QUESTION_FIELDS)


def test_manifest_instance_key_is_the_flat_entry():
    """A bench Instance holds a Question, and its resume key is still the digest of the flat
    manifest entry (a library built before the Question type resumes, not rebuilds)."""
    from lipc.studies.bench.manifest import Instance
    inst = Instance("a", "random:3-6-6-2:1", Question("box:0:1", output="0-1"), "paper")
    flat = dict(name="a", network="random:3-6-6-2:1", domain="box:0:1", output="0-1",
                output_norm=None, input_norm="linf", formulation="paper", bounds="auto",
                passes=True)
    assert inst.key() == fingerprint(flat)
    assert question_fields(flat) == dict(domain="box:0:1", output="0-1", output_norm=None,
                                         input_norm="linf")


@pytest.mark.parametrize("dsl,spec", [
    ("box([0, -1, 0.25], 1)", "box:0,-1,0.25:1"),
    ("linf([0.5, 0.1, 0.3], 0.2, lo=0, hi=1)", "linf:0.5,0.1,0.3:0.2:0:1"),
    ("linf(0.5, [0.1, 0.2, 0.3])", "linf:0.5:0.1,0.2,0.3"),
    ("l1([0.5, 0.4, 0.3], 0.25, hi=0.6)", "l1:0.5,0.4,0.3:0.25:-inf:0.6"),
])
def test_program_domains_are_built_from_arrays_as_their_specs(dsl, spec):
    """A program's box() / linf() / l1() value is built from its arrays and is the same set as
    the spec string spelling the same numbers."""
    prog = build(f"input x[3] in {dsl}\noutput x\n")
    _same_set(prog.domain, parse_domain(spec, 3))
    assert prog.domain.description == dsl


def test_program_polytope_and_bad_l1_radius():
    A = "[[1, 1, 0], [-1, 0, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]]"
    prog = build(f"input x[3] in polytope({A}, [1, 0, 0, 1, 0])\noutput x\n")
    ref = lipc.Polytope(np.array([[1, 1, 0], [-1, 0, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1.0]]),
                        np.array([1, 0, 0, 1, 0.0]))
    _same_set(prog.domain, ref)
    with pytest.raises(lipc.LipcError, match="l1 ball radius must be a number"):
        build("input x[2] in l1([0, 0], [0.1, 0.2])\noutput x\n")
