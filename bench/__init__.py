"""mendb's benchmarks: `python -m bench` (see docs/BENCHMARKS.md, '## How to run').

Speed and quality are measured here, as ratios against the libraries a user would
otherwise pick (cleanlab, pyDVL, OpenDataVal), on the same splits in the same run,
never in timed tests. The reference libraries live in their own virtualenvs under
bench/ and run as subprocesses; see `bench.envs`.
"""
