"""OTLP receivers and decoding."""
