"""The multi-host scale test bed (issue 28): several app hosts in Linux network
namespaces on one machine, against one PostgreSQL, one Redis and Celery."""
