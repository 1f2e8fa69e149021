"""Replaying a recorded run without side effects, and comparing two runs (issue 7, part 5)."""
