"""Estimators of the local Lipschitz constant beside lipc's exact MIP (the paper's Table 1).

``ESTIMATORS`` maps a method name to ``(function, guarantee)``; each function takes a
:class:`~lipc.estimators.base.Context` and returns ``(value, details)``.  Guarantees:
``lower`` (a certified lower bound), ``upper`` (a certified upper bound), ``exact``.
CLEVER, SeqLip and LipSDP (optional in issue 6) are not implemented yet.
"""
from __future__ import annotations

from typing import Callable

from . import fastlip as _fastlip
from . import liplp as _liplp
from . import lipmip as _lipmip
from . import naiveub as _naiveub
from . import randomlb as _randomlb
from .base import GUARANTEES, Context

ESTIMATORS: dict[str, tuple[Callable, str]] = {
    "randomlb": (_randomlb.randomlb, _randomlb.GUARANTEE),
    "lipmip": (_lipmip.lipmip, _lipmip.GUARANTEE),
    "liplp": (_liplp.liplp, _liplp.GUARANTEE),
    "fastlip": (_fastlip.fastlip, _fastlip.GUARANTEE),
    "naiveub": (_naiveub.naiveub, _naiveub.GUARANTEE),
}

__all__ = ["ESTIMATORS", "GUARANTEES", "Context"]
