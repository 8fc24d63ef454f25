"""Tests written for mutants of scripts/mutation.py that no other test caught: each pins one
behaviour of the library that the other tests did not look at closely enough (named in each
test's comment)."""
