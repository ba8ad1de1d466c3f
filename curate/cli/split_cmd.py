"""`curate split`: registered on ``main`` when implemented."""
