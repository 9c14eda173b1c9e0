"""The JSON API under /api/v1, one router per resource; thin: parse, call a service, shape.
Every HTML page (the `web` package) has its JSON twin here."""
