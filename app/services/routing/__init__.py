"""The router's trained parts: the needs-cloud classifier (classifier.py) and threshold calibration."""
