"""The studio: a local web page over the pipeline (server, projects, page)."""
