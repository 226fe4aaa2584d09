"""The analyzers a scan runs, in order. New analyzers are added here."""

from __future__ import annotations

from netwatch.analyzers import Analyzer
from netwatch.analyzers.carddata import CardData
from netwatch.analyzers.classify import Classifier


def build_classifier() -> Analyzer:
    return Classifier()


def build_analyzers() -> list[Analyzer]:
    """Fresh instances (analyzers may hold per-run state)."""
    return [CardData()]
