"""The loop benchmark (issue 17): does `server.loop.run_loop` leave the data
better, never worse, on real imbalanced tables with realistic label noise?

For every table x noise kind x validation setting x seed (a cell) the table goes
into an embedded PostgreSQL under `bench/out/loop/`, is registered, the noise is
planted by SQL (`planting`), the real loop runs, and the final training rows are
scored on the sealed test rows by three downstream models (`downstream`), beside
the clean rows, the noisy rows and three baselines at the same budget
(`baselines`). Each cell's result is a JSON file (`runner`); the report
(`report`, prose in `report.md.j2`) reads them all and writes the section of
docs/BENCHMARKS.md.

Modules: `tables` (what data), `planting` (what noise), `store` (the SQL),
`experiment` (one cell), `baselines`, `downstream`, `stats` (recovered shares,
intervals, verdicts), `runner` (the grid, resumable), `report`, `cli`.
"""
