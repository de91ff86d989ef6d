"""The feed product: posts in a member's home feed, ranked under the feed relevance policy."""
