"""`curate dedup`: registered on ``main`` when implemented."""
