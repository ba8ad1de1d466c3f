"""`curate eval`: registered on ``main`` when implemented."""
