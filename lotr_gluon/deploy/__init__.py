"""Deployment: exported graphs and the code that runs them."""
