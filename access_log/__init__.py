"""The access log: every access to a person's data through the relay, as leaves of monthly Merkle
trees anyone holding a signed head can check (RFC 9162 hashing), and a standalone verifier."""
