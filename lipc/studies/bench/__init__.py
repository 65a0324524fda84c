"""Benchmark MIP libraries (issue 7), behind ``lipc bench build`` and ``lipc bench solve``
(lipc.cli.bench).

lipc.studies.bench.manifest reads the TOML manifest (lipc.studies.bench.vnncomp makes one from a
VNN-COMP benchmark folder), lipc.bench.build compiles, solves and writes the
library (``instances/*.mps.gz``, ``<lib>.solu``, ``<lib>.csv``), lipc.studies.bench.resolve re-solves it
with any back end of the solver registry, lipc.studies.bench.exact_check re-checks reference solutions in rational arithmetic and
lipc.studies.bench.readme describes the library.  Jobs run on lipc.util.workers (processes or Dask).
"""
