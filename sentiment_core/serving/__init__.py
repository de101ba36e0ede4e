"""Serving: the REST API, the SageMaker-style handler, and exports."""
