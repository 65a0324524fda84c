"""The writers' number and line assembly: every number reads back as the identical double, in
repr's shortest spelling, and the vectorised line joins equal the per-line formatting."""
import numpy as np

from lipc.emit.canon import joined_lines, text_table, texts


def test_text_table_is_repr_and_reads_back():
    rng = np.random.default_rng(0)
    v = np.concatenate([rng.normal(size=2000), rng.normal(size=500).astype(np.float32) * 1e3,
                        np.exp(rng.uniform(-40, 40, 500)) * rng.choice([-1, 1], 500),
                        [0.0, -0.0, 1.0, -3.0, 0.1, 1e16, 9999999999999998.0, 1e-9, -2.5e300,
                         123456789.0, 5e-324]])
    table = text_table(v)
    assert table.dtype.kind == "S"
    got = texts(v)
    assert got == [t.decode() for t in table.tolist()]
    for x, t in zip(v.tolist(), got):
        assert float(t) == x
        r = repr(x + 0.0)
        assert t == (r[:-2] if r.endswith(".0") and abs(x) < 1e16 else r)
    assert got[-11:-7] == ["0", "0", "1", "-3"]


def test_joined_lines_match_string_formatting():
    a = np.array([b"    x1        ", b"    longer_name  "], dtype="S")
    b = np.array([b"r1        ", b"obj       "], dtype="S")
    c = text_table(np.array([2.5, -1.0]))
    assert joined_lines(a, b, c) == b"    x1        r1        2.5\n    longer_name  obj       -1\n"
