"""The learning loop, pure: quiz questions and their checks, grading, the hint ladder, mastery and the
FSRS review schedule. The services in app/services/learning do the model calls and the sandboxed runs."""
