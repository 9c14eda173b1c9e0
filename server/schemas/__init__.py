"""The JSON shapes of the API (pydantic), one family per entity: `*Public` for answers,
`*Create` / `*In` for request bodies, `*sPublic` for lists."""
