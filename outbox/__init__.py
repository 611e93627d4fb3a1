"""The transactional outbox: rows a processor writes in its own database transaction, and the
publisher that moves them to Kafka exactly once. It knows no processor's domain."""
