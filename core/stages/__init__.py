"""The recipe's stages, one module each. A stage reads and writes only through the run's artifact store."""
