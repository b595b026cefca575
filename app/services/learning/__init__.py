"""Quiz generation and checking, grading, hints, the sandbox for code snippets, and the review queue."""
