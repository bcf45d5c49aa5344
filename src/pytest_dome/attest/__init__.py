"""Attestations: a run's decision as in-toto statements, and DSSE envelopes."""
