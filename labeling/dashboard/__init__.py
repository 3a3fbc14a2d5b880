"""The campaign manager dashboard."""
