"""Reserved for the processors that route queries between insurers (later work).

Nothing lives here yet; see docs/architecture.md."""
