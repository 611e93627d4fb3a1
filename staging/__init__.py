"""Scenes the demo and the benchmarks stage on a stack: populations provisioned and given work,
as the operator and the participants would set them up."""
