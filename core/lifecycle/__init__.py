"""Model lifecycle: registry, training jobs, drift detection and alerts."""
