"""Task logs in Elasticsearch: JSON lines for Fluentd/Fluent Bit or direct bulk indexing, and a reader.

Pure cores: :mod:`.identity` (path -> try -> ``log_id``), :mod:`.documents` (line -> document),
:mod:`.shapes` (stored document -> Airflow log line), :mod:`.queries` (search bodies),
:mod:`.template` (the index template).
Thin adapters: :mod:`.client` (the ``elasticsearch`` client), :mod:`.writer`, :mod:`.reader`,
:mod:`.remote_io` (Airflow's RemoteLogIO), :mod:`.handler` (the Kibana link).
"""
