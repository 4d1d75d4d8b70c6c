"""Inputs: the data contract, the signal map, the warehouse, lifecycle (spans, churn, renewals) and validation."""
