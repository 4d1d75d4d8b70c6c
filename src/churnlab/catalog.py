"""Every path churnlab reads or writes, derived from one root.

Two kinds of location:

* **package data** shipped inside the installed package (works from a wheel): the
  default signal map and the monthly report template;
* **a project tree** under one root (the current folder by default, or
  ``CHURNLAB_HOME``)::

      ROOT/data/raw/NAME/         inputs (the contract's tables + signal_map.yaml)
      ROOT/data/processed/NAME/   features and landmark datasets
      ROOT/models/NAME/           trained champions (model card, backtest tables)
      ROOT/reports/YYYY-MM/       rendered monthly reports

The CLI's defaults, the Makefile and the scripts take their paths from here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
RESOURCES_DIR = PACKAGE_DIR / "resources"
TEMPLATES_DIR = PACKAGE_DIR / "templates"
DEFAULT_SIGNAL_MAP = RESOURCES_DIR / "signal_map.yaml"
REPORT_TEMPLATE = TEMPLATES_DIR / "monthly_risk_report.py"
DEMO = "demo"


@dataclass(frozen=True)
class Catalog:
    """The project tree under ``root`` (see the module doc)."""

    root: Path

    @classmethod
    def here(cls) -> "Catalog":
        """The catalog rooted at ``$CHURNLAB_HOME`` or the current folder."""
        return cls(Path(os.environ.get("CHURNLAB_HOME", ".")))

    def raw(self, name: str = DEMO) -> Path:
        return self.root / "data" / "raw" / name

    def processed(self, name: str = DEMO) -> Path:
        return self.root / "data" / "processed" / name

    def models(self, name: str = DEMO) -> Path:
        return self.root / "models" / name

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    def report(self, month) -> Path:
        return self.reports / str(month)

    def features(self, name: str, as_of) -> Path:
        return self.processed(name) / f"features_{str(as_of)[:10]}.parquet"

    def landmarks(self, name: str = DEMO) -> Path:
        return self.processed(name) / "landmarks.parquet"
