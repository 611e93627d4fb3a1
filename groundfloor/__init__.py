"""The ground floor every package may stand on: settings, keys and sealing, crash points and the
one place Kafka clients are built. It imports no other package of the project."""
