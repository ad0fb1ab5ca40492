"""Turning files into chunks: one loader per format (formats/), splitting, PDF layout, the
embedding pool, and the pipeline that commits a batch through the single writer."""
