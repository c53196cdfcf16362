"""``tox -e demo``: a local Airflow 3 with this bundle, shipping task logs to a local S3 store."""
