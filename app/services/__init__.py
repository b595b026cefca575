"""Adapters that do I/O (files, processes, hardware, network). Plain Python, no Qt."""
