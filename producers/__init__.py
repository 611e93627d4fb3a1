"""Publishing filings: batch files read and validated row by row, then sent to Kafka.

`rows` reads, `validate` checks, `publisher` sends, `outcomes` waits; see docs/publishing.md.
"""
