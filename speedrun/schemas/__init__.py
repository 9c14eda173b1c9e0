"""JSON Schemas of the files this project exchanges."""
