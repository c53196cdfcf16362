"""Remote task logs and JWT-header single sign-on for Apache Airflow 3."""

__version__ = "0.1.0"
