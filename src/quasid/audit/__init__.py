"""``quasid audit``: the collisions named item by item, code use, behaviour alignment, comparison."""

from quasid.audit.collect import SIDAudit, audit_sids
from quasid.audit.report import write_audit

__all__ = ["SIDAudit", "audit_sids", "write_audit"]
