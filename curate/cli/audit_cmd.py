"""`curate audit`: registered on ``main`` when implemented."""
