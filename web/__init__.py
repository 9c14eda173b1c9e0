"""Templates and static assets for the pages the server renders."""
