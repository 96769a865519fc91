"""Confidence analytics: is the score informative, calibrated, and where to trade it."""
