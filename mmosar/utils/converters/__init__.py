"""Converters of released checkpoints to mmosar names."""
