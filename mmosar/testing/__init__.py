"""Testing utilities shipped with mmosar (equivalence with released code)."""
