"""Self-contained HTML reports (images embedded, no external assets): one run (:func:`write_report`) or a
comparison of several (:func:`write_comparison`)."""
from animegen.report.compare import build_comparison, write_comparison
from animegen.report.run_report import SECTIONS, build_report, write_report
from animegen.report.rundata import RunData

__all__ = ["SECTIONS", "RunData", "build_comparison", "build_report", "write_comparison", "write_report"]
