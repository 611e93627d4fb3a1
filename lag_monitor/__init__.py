"""The lag monitor: every consumer group judged over a window of its committed offsets."""
