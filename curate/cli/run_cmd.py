"""`curate run`: registered on ``main`` when implemented."""
