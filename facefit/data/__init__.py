"""Readers for the development data sets (photos with human-placed landmarks)."""
