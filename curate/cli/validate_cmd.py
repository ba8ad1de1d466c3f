"""`curate validate`: registered on ``main`` when implemented."""
