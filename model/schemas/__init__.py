"""JSON Schemas of the documents mttd writes (data files; nothing to import)."""
