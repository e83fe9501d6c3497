"""Analytics shared by the API, the MCP tools and the CLI: project stats, breakdowns, run
bottlenecks and time series. Computations live here; the SQL they need lives in
`tracehound.storage`."""
