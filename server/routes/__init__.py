"""HTTP routes under /api/v1 (JSON) and the HTML pages; thin: parse, call a service, shape."""
