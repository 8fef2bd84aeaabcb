"""Batches: one storyboard times a table of rows, one cut per row, locally or on Ray."""
