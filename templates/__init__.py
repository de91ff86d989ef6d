"""Templates that scaffold new product plugin packages (``stillroom new product``)."""
