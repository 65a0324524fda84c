"""Result tables as CSV text, shared by ``lipc bench``, ``lipc track`` and bab's node export:
floats in full precision (repr), empty cells for missing values, "\\n" line ends (files that
diff cleanly)."""
from __future__ import annotations

import csv
import io


def cell(v) -> str:
    return "" if v is None else repr(float(v)) if isinstance(v, float) else str(v)


def csv_text(fields: list[str], rows: list[dict]) -> str:
    """The CSV of ``rows`` restricted to ``fields`` (in that order), with a header line."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fields, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: cell(r.get(k)) for k in fields})
    return buf.getvalue()
