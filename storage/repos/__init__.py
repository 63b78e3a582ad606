"""Repositories, one module per aggregate: the only code that builds SQL."""
