"""Filling papers in from outside services, in the background: arXiv (by arXiv id, in
batches) and Crossref (by DOI). See `service.PaperEnricher`."""
