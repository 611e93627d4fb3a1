"""Simulated insurers: each with its own member store, key and principal, answering the queries
the relay routes to it."""
