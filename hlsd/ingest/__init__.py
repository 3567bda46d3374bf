"""Producers that feed the stream hub."""
