"""Entry points: the `lakehouse` command line and the Databricks job tasks (console scripts)."""
