"""Annotation quality: agreement with gold labels and between annotators."""
