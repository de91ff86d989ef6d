"""The search product: people search, member profiles ranked for a typed query under the search relevance policy."""
