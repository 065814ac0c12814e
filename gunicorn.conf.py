"""gunicorn as production runs it: the Dockerfile, docker-compose.yml and bench/scale_bench.py read this file."""

bind = "0.0.0.0:8000"
workers = 3
# A sync worker is killed when one request runs longer than this, even while it streams. A CSV of
# every finding of a million-object forest (half a million rows, ~265 MB) takes about 25 s on two
# cores. At gunicorn's default of 30 s it was cut off mid-file (issue 18). It is still the bound
# for a request that hangs.
timeout = 120
accesslog = "-"
