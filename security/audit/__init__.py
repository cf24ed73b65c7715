"""The tamper-evident access audit log (DESIGN.md "Access audit"): events, sealing, verification, search."""

from security.audit.chain import VerifyKey, normalize_identifier, subject_hmac
from security.audit.in_transaction import record_in_transaction
from security.audit.models import AuditCheckpoint, AuditEvent, AuditSubject

__all__ = ["AuditCheckpoint", "AuditEvent", "AuditSubject", "VerifyKey", "normalize_identifier",
           "record_in_transaction", "subject_hmac"]
