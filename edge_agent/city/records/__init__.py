"""The city's records service: the store of record for reads, kept only as the city's policy allows.

Reads are kept by day and dropped whole after ``records.retention_days`` unless a legal hold keeps them; they are
searched only under a case number and an allowed purpose; every search, view, export, login, hold, purge and
configuration change is appended to a hash-chained audit log that the service's database role cannot rewrite.
People sign in with a password and a TOTP code, in one of four roles.
"""
