"""curate: audit, clean, deduplicate and split LLM fine-tuning data."""

__version__ = "0.1.0"
