"""Speed and accuracy benchmarks: `python -m benchmarks.<name>` prints a Markdown table."""
