"""Raw files -> DuckDB warehouse: readers, row rules, quarantine and reconciliation.

The rules come from the declarations in ``ml.contract``; see ``ml.ingest.rules``.
"""

from ml.ingest import quarantine
from ml.ingest.ingest import FileResult, IngestResult, ingest_entity, partition_span
from ml.ingest.read import MalformedFileError, discover_files
from ml.ingest.reconcile import FileReconciliation, ReconciliationResult, reconcile
from ml.ingest.tables import ensure_tables

__all__ = [
    "FileReconciliation",
    "FileResult",
    "IngestResult",
    "MalformedFileError",
    "ReconciliationResult",
    "discover_files",
    "ensure_tables",
    "ingest_entity",
    "partition_span",
    "quarantine",
    "reconcile",
]
