"""Reports people can look at: HTML with embedded plots and a Markdown summary."""
