"""A deterministic synthetic population filed as its municipalities, employers and insurers would,
for the demo, the tests and the benchmarks."""
