"""Estimators of the local Lipschitz constant beside lipc's exact MIP (the paper's Table 1).

``ESTIMATORS`` maps a method name to ``(function, guarantee)``; each function takes a
:class:`~lipc.estimators.base.Context` and returns ``(value, details)``.  Guarantees:
``lower`` (a certified lower bound), ``upper`` (a certified upper bound), ``exact`` or
``heuristic`` (neither).  clever (scipy) and lipsdp (cvxpy) need the optional extra
``pip install 'lipc[estimators]'``; seqlip and lipsdp are l2 methods converted to the query's
input norm (see lipc.estimators.l2).
"""
from __future__ import annotations

from typing import Callable

from . import clever as _clever
from . import fastlip as _fastlip
from . import liplp as _liplp
from . import lipmip as _lipmip
from . import lipsdp as _lipsdp
from . import naiveub as _naiveub
from . import randomlb as _randomlb
from . import seqlip as _seqlip
from .base import GUARANTEES, Context

ESTIMATORS: dict[str, tuple[Callable, str]] = {
    "randomlb": (_randomlb.randomlb, _randomlb.GUARANTEE),
    "lipmip": (_lipmip.lipmip, _lipmip.GUARANTEE),
    "liplp": (_liplp.liplp, _liplp.GUARANTEE),
    "fastlip": (_fastlip.fastlip, _fastlip.GUARANTEE),
    "naiveub": (_naiveub.naiveub, _naiveub.GUARANTEE),
    "clever": (_clever.clever, _clever.GUARANTEE),
    "seqlip": (_seqlip.seqlip, _seqlip.GUARANTEE),
    "lipsdp": (_lipsdp.lipsdp, _lipsdp.GUARANTEE),
}

__all__ = ["ESTIMATORS", "GUARANTEES", "Context"]
