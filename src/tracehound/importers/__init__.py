"""Importers: other tools' stored traces, read and turned into the spans OTLP ingest would have
decoded, then written through the same convention mapping and writer."""
