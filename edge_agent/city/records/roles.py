"""The four roles and what each may do (the service checks these before every act)."""

from __future__ import annotations

ROLES = ("investigator", "supervisor", "auditor", "administrator")
SEARCHERS = ("investigator", "supervisor")  # search, see crops
HOLDERS = ("supervisor",)  # place and release legal holds, review searches
AUDIT_READERS = ("auditor", "supervisor")  # read and export the audit log
HOLD_READERS = ("supervisor", "auditor")  # list legal holds
DEVICE_VIEWERS = ("supervisor", "administrator")  # the device view
