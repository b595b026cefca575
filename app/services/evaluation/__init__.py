"""Evaluation runners and their inputs: loading the shipped tutoring eval set."""
