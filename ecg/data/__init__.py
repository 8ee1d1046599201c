"""Datasets: indices of records on disk, PhysioNet downloads and ready dataset definitions."""
