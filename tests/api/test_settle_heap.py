"""At start-up both servers take what is alive out of the garbage collector's full passes."""

from __future__ import annotations

import gc
import sys

import api


def test_settle_heap_imports_and_freezes(monkeypatch):
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    gc.unfreeze()
    try:
        api.settle_heap(("colorsys",))
        assert "colorsys" in sys.modules
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_the_dashboards_page_libraries_exist():
    for name in api.PAGE_LIBRARIES:
        assert __import__(name)
