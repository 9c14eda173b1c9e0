"""Open data: the whole history as files people load with pandas, DuckDB or Hugging Face
`datasets` (`columns`: what each Parquet column means and how its figure was obtained;
`tables`: one row per run, record and attempt, read through the same services as the JSON
API; `bundles`: the signed bundles and their index; `site_state`: what a published snapshot
was built from, so a change rebuilds only the pages it touches)."""
