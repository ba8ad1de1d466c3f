"""`curate train`: registered on ``main`` when implemented."""
