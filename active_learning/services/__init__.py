"""Active-learning services: the only code here that writes."""
