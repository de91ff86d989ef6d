"""Data sources for files teams already have: a JSONL file of pairs, a BEIR collection, a MIND impressions log."""
