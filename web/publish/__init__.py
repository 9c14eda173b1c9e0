"""`speedrun publish`: a static snapshot of the read side, servable by any static host.

The pages are rendered by the real app in-process (`snapshot`: from `/` and every stored
entity, following each same-site link and GET form, `crawl` and `links`), written where a
plain static server finds them for the live URLs (`layout`), with content-hashed asset names
(`assets`), pre-compressed copies (`compress`), atomically and only when changed (`writer`),
beside the open data (`server.services.opendata`). `refresh` rebuilds only what a change
touches; `publisher` does so inside the server on every change (`SPEEDRUN_PUBLISH_DIR`).
"""
