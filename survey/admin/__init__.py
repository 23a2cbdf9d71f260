"""The Nội vụ / unit manager area under ``/admin/``: progress dashboard and accounts."""
