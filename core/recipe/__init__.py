"""The recipe: the stages' declarations, the plan derived from them, the context and artifact store stages work through, and one job."""
