"""Compiled Lipschitz MIPs written as files and solved by HiGHS and SCIP give the CBC optimum."""
import numpy as np
import pytest

import lipc
from lipc.cli.main import main
from readers import READERS

CASES = [
    ("classifier_4_16_16_3.onnx", "linf:x0_4.npy:0.2", "0-1", "linf"),
    ("classifier_4_16_16_3_dynamo.onnx", "linf:0.5:0.2", "2", "l1"),
    ("toy_2_8_8_1.onnx", "linf:0.3,0.6:0.25:0:1", None, "linf"),
]


@pytest.mark.parametrize("model, domain, output, norm", CASES)
def test_files_read_back_with_the_same_optimum(examples, tmp_path, model, domain, output, norm):
    domain = domain.replace("x0_4.npy", str(examples / "x0_4.npy"))
    direct = lipc.solve(examples / model, domain, output=output, input_norm=norm)
    assert direct.status == "optimal"
    for suffix in (".mps", ".mps.gz", ".lp"):
        path = tmp_path / f"m{suffix}"
        lipc.compile(examples / model, domain, output=output, input_norm=norm, out=path)
        for name, read in READERS.items():
            got = read(path)
            assert got == pytest.approx(direct.value, rel=1e-6, abs=1e-9), (suffix, name)


def test_cli_compile_writes_full_precision(examples, tmp_path, capsys):
    out = tmp_path / "net.mps"
    rc = main(["compile", str(examples / "toy_2_8_8_1.onnx"), "--domain", "box:0:1", "-o", str(out)])
    assert rc == 0 and out.exists()
    assert "wrote" in capsys.readouterr().out
    p, low = lipc.compile(examples / "toy_2_8_8_1.onnx", "box:0:1")
    written = set()
    for line in out.read_text().splitlines():
        for tok in line.split():
            try:
                written.add(float(tok))
            except ValueError:
                pass
    # every matrix coefficient is in the file bit-for-bit (repr round trip)
    assert set(map(float, np.abs(low.mip.data))) <= written | {float(-v) for v in written}


def test_fully_folded_query_still_writes(tmp_path):
    """A network whose every neuron is stable compiles to a constant objective (no binaries)."""
    from lipc.frontends.onnx.writer import save_mlp
    W1 = np.array([[1.0, 2.0], [-1.0, 0.5]])
    b1 = np.array([5.0, -10.0])          # neuron 0 always on, neuron 1 always off on [0,1]^2
    W2, b2 = np.array([[3.0, 7.0]]), np.array([0.0])
    net = save_mlp(tmp_path / "stable.onnx", [W1, W2], [b1, b2], dtype=np.float64)
    res = lipc.solve(net, "box:0:1", output=None, input_norm="linf")
    assert res.value == pytest.approx(9.0) and res.stats["binaries"] == 0
    lipc.compile(net, "box:0:1", out=tmp_path / "s.lp")
    for read in READERS.values():
        assert read(tmp_path / "s.lp") == pytest.approx(9.0)


def test_writing_to_a_device_streams_into_it(examples, tmp_path):
    """`-o /dev/null` must not replace the device node by a regular file."""
    import os
    import stat
    fifo = tmp_path / "pipe.lp"
    os.mkfifo(fifo)
    import threading
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()))
    reader.start()
    lipc.compile(examples / "toy_2_8_8_1.onnx", "box:0:1", out=fifo)
    reader.join(timeout=30)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and got and b"Subject To" in got[0]
