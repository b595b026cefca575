"""Evaluation of the tutor: the labelled query set's schema (metrics join here)."""
