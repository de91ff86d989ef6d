"""jobs: LinkedIn-style job recommendations (member -> job postings)."""
