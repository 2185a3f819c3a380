"""The console's read models: the queries and summaries its pages show."""
