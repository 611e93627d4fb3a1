"""Reserved for the reminder and reconciliation stream processors (later work).

Nothing lives here yet; see docs/architecture.md."""
