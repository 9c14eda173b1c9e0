"""Re-verification of records: when records are re-run (policy, and its periodic scan:
schedule), queuing the re-runs as jobs (jobs), and judging their outcome (verdict)."""
