"""Integrations with other frameworks, each behind an optional extra.

* :mod:`asyncsagemaker.integrations.ray`: a callable class for Ray Data's
  ``Dataset.map_batches`` (``pip install asyncsagemaker[ray]``).
"""
