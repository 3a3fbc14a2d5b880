"""The process reward model: model, training, scoring and evaluation.

Nothing in this package imports Django: it works on plain data so it can run
in a training worker, a notebook or a GPU box alike. Configs are dataclasses.
"""
