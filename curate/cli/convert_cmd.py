"""`curate convert`: registered on ``main`` when implemented."""
